"""The capacity model against numbers computed by hand (dev environment, 86 400 users)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contracts.config import load_environment
from contracts.errors import UsageProblem
from contracts.gateway_spec import load_gateway_spec
from loadtests.capacity import (
    ActivityProfile,
    BasisRefused,
    PodSizing,
    check_basis,
    expand_rates,
    load_profile,
    load_summary,
    plan_capacity,
    pod_sizing,
    scaled_environment,
)

PROJECT = Path(__file__).resolve().parents[2]
PROFILE = ActivityProfile.model_validate(
    {
        "requests_per_user_per_day": {"GET /v1/accounts/{id}": 10, "POST /v1/exchanges/*/orders": 2},
        "peak_to_average": 2,
        "headroom": 1.3,
        "daily_active_fraction": 0.5,
        "database": {
            "ledger_writes_per_request": {"POST /v1/exchanges/*/orders": 3},
            "bytes_per_user": 4096,
            "bytes_per_ledger_row": 350,
            "index_overhead": 0.5,
            "retention_days": 30,
            "hot_days": 7,
            "calibration": {
                "transactions_per_s": 688,
                "vcpus": 2,
                "rows_per_transaction": 4,
                "measured_on": "2026-12-02",
                "source": "test",
            },
            "reads_per_vcpu_per_s": 2500,
        },
        "cache": {"hit_ratio": 0.9, "bytes_per_active_user": 2048, "ops_per_node_per_s": 80000},
    }
)
SUMMARY: dict[str, Any] = {
    "format": 1,
    "scenario": "stress",
    "passed": True,
    "window": {"duration_s": 300.0},
    "total": {"requests": 20_000},
    "services": {
        "wallet": {"rps": 13.0, "replicas": 2, "cpu_seconds": 150.0, "rps_per_core": 26.0},
        "exchange-coinbase": {"rps": 2.6, "replicas": 1, "cpu_seconds": 150.0, "rps_per_core": 5.2},
    },
}
PODS = {
    "wallet": PodSizing(cpu_millicores=500, memory_mib=512, target_cpu_percent=65),
    "exchange-coinbase": PodSizing(cpu_millicores=250, memory_mib=256, target_cpu_percent=65),
    "exchange-alpaca": PodSizing(cpu_millicores=250, memory_mib=256, target_cpu_percent=65),
}


def _plan(summary: dict[str, Any] = SUMMARY, profile: ActivityProfile = PROFILE) -> Any:
    env = load_environment("dev", PROJECT)
    routes = load_gateway_spec(PROJECT).expanded_routes([e.name for e in env.exchanges])
    return plan_capacity(86_400, profile, summary, env, routes, pods=PODS)


@pytest.fixture
def plan() -> Any:
    return _plan()


def test_glob_rates_are_split_over_the_exchanges() -> None:
    rates = expand_rates({"POST /v1/exchanges/*/orders": 2, "POST /v1/topups": 1}, ["coinbase", "alpaca"])
    assert rates == {
        "POST /v1/exchanges/coinbase/orders": 1,
        "POST /v1/exchanges/alpaca/orders": 1,
        "POST /v1/topups": 1,
    }


def test_peak_rps_per_endpoint(plan: Any) -> None:
    # 86 400 users x 10/day / 86 400 s = 10 rps; x 2 peak = 20 rps.
    assert plan.endpoints["GET /v1/accounts/{id}"] == {"per_user_per_day": 10, "avg_rps": 10, "peak_rps": 20}
    assert plan.endpoints["POST /v1/exchanges/alpaca/orders"]["peak_rps"] == 2


def test_replicas_from_rps_per_core_the_pod_request_and_the_hpa_target(plan: Any) -> None:
    # wallet: 26 rps/core x 0.5 core x 65% = 8.45 rps per replica; 20 x 1.3 / 8.45 = 3.08 -> 4
    # (above dev's max of 3: flagged).
    assert plan.services["wallet"]["rps_per_replica"] == 8.45
    assert plan.services["wallet"]["replicas"] == 4
    assert any("wallet: needs 4 replicas but max_replicas is 3" in w for w in plan.warnings)
    # coinbase: 5.2 x 0.25 x 65% = 0.845; 2 x 1.3 / 0.845 = 3.08 -> 4.
    assert plan.services["exchange-coinbase"]["replicas"] == 4
    # alpaca was not measured: the mean of the measured adapters (5.2 rps per core) stands in.
    assert plan.services["exchange-alpaca"]["rps_per_core"] == 5.2
    assert plan.services["exchange-alpaca"]["rps_source"].startswith("mean")
    assert "roundups" not in plan.services


def test_nodes_from_pod_requests_and_allocatable_share(plan: Any) -> None:
    # 4x500m + 4x250m + 4x250m = 4000m; t3.large gives 2000 x 0.9 - 300 = 1500m -> 3 nodes.
    assert plan.node_groups["general"] == {"instance_type": "t3.large", "nodes": 3, "max_size": 4}


def test_database_and_cache_sizes(plan: Any) -> None:
    # 518 400 rows/day -> 12 writes/s at peak; 2 cache-miss reads/s; pgbench 688 x 4 / 2 = 1,376 rows
    # per vCPU-s: (12 / 1376 + 2 / 2500) x 1.3 -> 1 vCPU.
    # hot: (86 400 x 4096 + 7 x 518 400 x 350) x 1.5 / 0.75 = 3.02 GiB: the db.t4g.medium of dev holds it.
    # stored: (86 400 x 4096 + 30 x 518 400 x 350) x 1.5 = 8.1 GiB -> dev's 20 GB minimum.
    assert plan.database == {
        "instance_class": "db.t4g.medium",
        "vcpu_needed": 1,
        "memory_gib_needed": 3.0,
        "storage_gb": 20,
        "peak_writes_per_s": 12.0,
        "peak_reads_per_s": 2.0,
    }
    # 43 200 active users x 2 KiB = 0.08 GiB; (20 + 2 + 2) x 1.3 = 31.2 ops/s -> one cache.t4g.small.
    assert plan.cache == {
        "node_type": "cache.t4g.small",
        "shards": 1,
        "replicas_per_shard": 1,
        "data_gib": 0.08,
        "peak_ops_per_s": 31.2,
    }


def test_every_step_shows_its_numbers(plan: Any) -> None:
    details = {step.title: step.detail for step in plan.steps}
    assert "86,400 users x 10/day / 86,400 s = 10.00 rps average" in details["peak GET /v1/accounts/{id}"]
    assert (
        "26.0 rps per core (measured over 150 CPU s) x 500m CPU request x 65% HPA target"
        in (details["replicas wallet"])
    )
    assert "= 1,376 rows per vCPU-s" in details["database load"]


def test_the_scaled_environment_carries_the_plan(plan: Any) -> None:
    env = load_environment("dev", PROJECT)
    scaled = scaled_environment(env, plan, 10.0)
    assert scaled.services.wallet.min_replicas == 4 and scaled.services.wallet.max_replicas == 4
    assert scaled.kubernetes is not None and scaled.kubernetes.node_groups[0].desired_size == 3
    assert scaled.usage.api_requests_millions == 10.0


def test_a_failed_or_foreign_summary_is_refused(tmp_path: Path) -> None:
    failed = tmp_path / "failed.json"
    failed.write_text(json.dumps({**SUMMARY, "passed": False}))
    with pytest.raises(UsageProblem, match="breached its SLO gates"):
        load_summary(failed)
    other = tmp_path / "other.json"
    other.write_text("{}")
    with pytest.raises(UsageProblem, match="not a load-test summary"):
        load_summary(other)


def test_the_shipped_profile_is_valid() -> None:
    profile = load_profile(PROJECT / "loadtests" / "profiles" / "wallet.yaml")
    assert profile.peak_to_average > 1 and profile.headroom >= 1


def test_a_short_basis_is_refused_and_a_long_stress_run_accepted() -> None:
    smoke = {**SUMMARY, "scenario": "smoke", "window": {"duration_s": 20.0}, "total": {"requests": 180}}
    with pytest.raises(BasisRefused, match=r"180 requests < 10,000; 20 s < 120 s"):
        check_basis(smoke, PROFILE.basis, "smoke.json")
    with pytest.raises(BasisRefused, match="too short a basis"):
        _plan(smoke)
    check_basis(SUMMARY, PROFILE.basis, "stress.json")


def test_a_service_without_a_cpu_measurement_is_refused_not_assumed() -> None:
    unmeasured = {
        **SUMMARY,
        "services": {
            **SUMMARY["services"],
            "wallet": {"rps": 13.0, "replicas": None, "replicas_source": "not measured (no process)"},
        },
    }
    refused = r"no CPU measurement for service 'wallet' \(not measured \(no process\)\)"
    with pytest.raises(BasisRefused, match=refused):
        _plan(unmeasured)


def test_a_profile_without_a_measured_database_rate_is_refused() -> None:
    data = PROFILE.model_dump()
    data["database"]["calibration"] = None
    with pytest.raises(BasisRefused, match="no measured database rate"):
        _plan(profile=ActivityProfile.model_validate(data))


def test_pod_sizing_reads_the_deployment_request_and_the_hpa_target() -> None:
    manifests = [
        {
            "kind": "Deployment",
            "metadata": {"name": "wallet"},
            "spec": {
                "template": {
                    "spec": {"containers": [{"resources": {"requests": {"cpu": "750m", "memory": "1Gi"}}}]}
                }
            },
        },
        {
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "wallet"},
            "spec": {
                "scaleTargetRef": {"name": "wallet"},
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 70}}}
                ],
            },
        },
        {"kind": "Deployment", "metadata": {"name": "no-hpa"}, "spec": {}},
    ]
    assert pod_sizing(manifests) == {"wallet": PodSizing(750, 1024, 70)}
