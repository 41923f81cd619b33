"""The capacity model: from a measured run and a user activity profile to replicas, nodes and data stores.

Inputs are a load-test summary (``summary.json``: rps each service served per CPU core while
every SLO gate held, from the CPU seconds its processes used — a stress run's held step is the
best source), an activity profile (requests per user per day by endpoint, the peak-to-average
ratio, headroom, data sizes, the database's pgbench-calibrated rate, the minimum basis), the
environment's plan graph (each pod's CPU request and HPA target, from the Deployment and
HorizontalPodAutoscaler manifests) and the environment model (node groups, database, cache).
A basis shorter than the profile's minimum (requests and seconds), a service without a measured
CPU figure, or a profile without a recorded database rate is refused (:class:`BasisRefused`,
exit 1) rather than extrapolated. Every step records the numbers it used, so the answer can be
checked by hand; ``walletops capacity`` prints them in order.

The rules, in order:

1. peak rps per endpoint = users x requests/user/day / 86400 x peak_to_average;
2. peak rps per service = sum of its endpoints (by the gateway's routes);
3. rps per replica at the HPA target = measured rps per core x the pod's CPU request (cores)
   x the HPA target utilisation; replicas = ceil(peak x headroom / that), at least the config's
   minimum; replicas above ``max_replicas`` are flagged;
4. nodes per group = the larger of CPU and memory requests (plus one DaemonSet share per node)
   over the instance's allocatable share, at least ``min_size`` and one per AZ; workloads go on
   the on-demand groups, spot groups keep their minimum;
5. database = the smallest instance class whose vCPUs carry the peak ledger writes (at the
   pgbench-calibrated rows per vCPU-second) and cache-miss reads and whose memory holds the hot
   data; storage = retained rows with index overhead;
6. cache = the node type and shard count holding the active users' cached data and peak ops.
"""

from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.config import CapacityType, EnvironmentConfig, ServiceConfig
from contracts.documents import load_yaml_model
from contracts.errors import UsageProblem
from contracts.gateway_spec import Route
from loadtests.reports import SUMMARY_FORMAT, service_of

SECONDS_PER_DAY = 86_400
GIB = 1024**3
# Share of a node's vCPU and memory that pods can request after kubelet/system reservations.
ALLOCATABLE_CPU = 0.90
ALLOCATABLE_MEMORY = 0.85
# Requests of the per-node DaemonSets (log shipper, CNI, kube-proxy, node exporter).
DAEMONSET_CPU_M = 300
DAEMONSET_MEMORY_MIB = 512
# Redis keeps this share of node memory for data (the rest: replication buffers, fragmentation).
CACHE_USABLE_MEMORY = 0.75

# vCPU and GiB of the instance types the environments use or may scale to (AWS public specs).
EC2_TYPES: dict[str, tuple[int, float]] = {
    "t3.large": (2, 8),
    "t3.xlarge": (4, 16),
    "m5.large": (2, 8),
    "m5.xlarge": (4, 16),
    "m5.2xlarge": (8, 32),
    "m6i.large": (2, 8),
    "m6i.xlarge": (4, 16),
    "m6i.2xlarge": (8, 32),
    "m6i.4xlarge": (16, 64),
    "c6i.xlarge": (4, 8),
    "c6i.2xlarge": (8, 16),
    "r6i.xlarge": (4, 32),
}
RDS_CLASSES: dict[str, tuple[int, float]] = {
    "db.t4g.medium": (2, 4),
    "db.t4g.large": (2, 8),
    "db.r6g.large": (2, 16),
    "db.r6g.xlarge": (4, 32),
    "db.r6g.2xlarge": (8, 64),
    "db.r6g.4xlarge": (16, 128),
    "db.r6g.8xlarge": (32, 256),
    "db.r6g.12xlarge": (48, 384),
    "db.r6g.16xlarge": (64, 512),
}
CACHE_TYPES: dict[str, float] = {
    "cache.t4g.small": 1.37,
    "cache.t4g.medium": 3.09,
    "cache.r6g.large": 13.07,
    "cache.r6g.xlarge": 26.32,
    "cache.r6g.2xlarge": 52.82,
    "cache.r6g.4xlarge": 105.81,
    "cache.r6g.8xlarge": 209.55,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseCalibration(_Strict):
    """A recorded pgbench run of ``ledger_post`` (``benchmarks/stack.py --backend real``)."""

    transactions_per_s: Annotated[float, Field(gt=0)]
    vcpus: Annotated[int, Field(ge=1)]
    rows_per_transaction: Annotated[float, Field(gt=0)]
    measured_on: str
    source: str

    @property
    def rows_per_vcpu_per_s(self) -> float:
        return self.transactions_per_s * self.rows_per_transaction / self.vcpus


class DatabaseProfile(_Strict):
    ledger_writes_per_request: dict[str, Annotated[float, Field(ge=0)]]
    bytes_per_user: Annotated[int, Field(gt=0)]
    bytes_per_ledger_row: Annotated[int, Field(gt=0)]
    index_overhead: Annotated[float, Field(ge=0, le=5)] = 0.5
    retention_days: Annotated[int, Field(ge=1, le=3653)]
    hot_days: Annotated[int, Field(ge=1, le=365)] = 30
    calibration: DatabaseCalibration | None = None
    reads_per_vcpu_per_s: Annotated[float, Field(gt=0)]


class Basis(_Strict):
    """The least a load-test summary must hold to size production from it."""

    min_requests: Annotated[int, Field(ge=1)] = 10_000
    min_duration_s: Annotated[float, Field(gt=0)] = 120.0


class CacheProfile(_Strict):
    hit_ratio: Annotated[float, Field(ge=0, le=1)]
    bytes_per_active_user: Annotated[int, Field(gt=0)]
    ops_per_node_per_s: Annotated[float, Field(gt=0)]


class ActivityProfile(_Strict):
    """How users use the wallet: requests per user per day, peaks, data sizes."""

    description: str = ""
    requests_per_user_per_day: Annotated[dict[str, Annotated[float, Field(ge=0)]], Field(min_length=1)]
    peak_to_average: Annotated[float, Field(ge=1, le=100)]
    headroom: Annotated[float, Field(ge=1, le=10)]
    daily_active_fraction: Annotated[float, Field(gt=0, le=1)]
    database: DatabaseProfile
    cache: CacheProfile
    basis: Basis = Basis()


class BasisRefused(Exception):
    """The measurements cannot carry a capacity plan; the message says what is missing (exit 1)."""


def load_profile(path: Path) -> ActivityProfile:
    """Read and validate an activity profile; problems name the file and key (exit 2)."""
    return load_yaml_model(ActivityProfile, path, f"--profile {path}")


def check_basis(summary: dict[str, Any], basis: Basis, label: str) -> None:
    """Refuse a summary with fewer requests or seconds than ``basis`` asks for."""
    requests = int((summary.get("total") or {}).get("requests", 0))
    duration = float((summary.get("window") or {}).get("duration_s", 0.0))
    short = []
    if requests < basis.min_requests:
        short.append(f"{requests:,} requests < {basis.min_requests:,}")
    if duration < basis.min_duration_s:
        short.append(f"{duration:g} s < {basis.min_duration_s:g} s")
    if short:
        raise BasisRefused(
            f"--from {label}: a {summary.get('scenario')} run of {duration:g} s and {requests:,} requests "
            f"is too short a basis ({'; '.join(short)}, the profile's basis); run a stress test "
            "(walletops loadtest --scenario stress) long enough to meet it"
        )


def load_summary(path: Path) -> dict[str, Any]:
    """Read a ``walletops loadtest`` summary; it must be ours and must have met its SLO gates."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageProblem(f"--from {path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"--from {path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if (
        not isinstance(document, dict)
        or document.get("format") != SUMMARY_FORMAT
        or "services" not in document
    ):
        raise UsageProblem(
            f"--from {path}: not a load-test summary (expected summary.json of walletops loadtest)"
        )
    if not document.get("passed"):
        raise UsageProblem(
            f"--from {path}: that run breached its SLO gates; capacity needs rps measured at SLO "
            "(use a passing run, or a stress run's summary, which is judged on the last step it held)"
        )
    return document


@dataclass(frozen=True)
class Step:
    """One step of the reasoning: what was computed, from which numbers."""

    title: str
    detail: str


@dataclass
class CapacityPlan:
    """The answer and how it was reached."""

    env: str
    users: int
    steps: list[Step] = field(default_factory=list)
    endpoints: dict[str, dict[str, float]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    node_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    database: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    cost: dict[str, Any] | None = None

    def step(self, title: str, detail: str) -> None:
        self.steps.append(Step(title, detail))

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "users": self.users,
            "steps": [asdict(step) for step in self.steps],
            "endpoints": self.endpoints,
            "services": self.services,
            "node_groups": self.node_groups,
            "database": self.database,
            "cache": self.cache,
            "warnings": self.warnings,
            "cost": self.cost,
        }


def expand_rates(rates: dict[str, float], exchanges: list[str]) -> dict[str, float]:
    """Per-endpoint rates with each ``*`` pattern split evenly over the matching exchanges."""
    expanded: dict[str, float] = {}
    for pattern, rate in rates.items():
        if "*" not in pattern:
            expanded[pattern] = expanded.get(pattern, 0.0) + rate
            continue
        method, _, path = pattern.partition(" ")
        names = [f"{method} {path.replace('*', name)}" for name in exchanges]
        for name in names:
            expanded[name] = expanded.get(name, 0.0) + rate / len(names)
    return expanded


def _rate_for(endpoint: str, table: dict[str, float]) -> float:
    for pattern, value in table.items():
        if fnmatch.fnmatchcase(endpoint, pattern):
            return value
    return 0.0


def _service_config(env: EnvironmentConfig, service: str) -> ServiceConfig:
    if service == "wallet":
        return env.services.wallet
    if service == "roundups":
        return env.services.roundups
    for exchange in env.exchanges:
        if service == f"exchange-{exchange.name}":
            return exchange
    raise UsageProblem(f"service {service!r} is not in the {env.name} config")


def measured_rps_per_core(summary: dict[str, Any], service: str) -> tuple[float, str]:
    """rps one CPU core of ``service`` served at SLO (requests over the CPU seconds its processes
    used), and where the figure came from."""
    services: dict[str, dict[str, Any]] = summary["services"]
    entry = services.get(service)
    if entry and (entry.get("rps_per_core") or 0) > 0:
        return float(entry["rps_per_core"]), f"measured over {entry['cpu_seconds']:g} CPU s"
    if service.startswith("exchange-"):
        adapters = [
            float(e["rps_per_core"])
            for name, e in services.items()
            if name.startswith("exchange-") and (e.get("rps_per_core") or 0) > 0
        ]
        if adapters:
            return sum(adapters) / len(adapters), "mean of the measured exchange adapters (same image)"
    raise BasisRefused(
        f"--from: the summary has no CPU measurement for service {service!r} "
        f"({(entry or {}).get('replicas_source', 'no requests reached it')}); run the load test "
        "against the local stack (--target local), whose processes are measured"
    )


@dataclass(frozen=True)
class PodSizing:
    """A service's pod CPU request and HPA target, read from its manifests in the plan graph."""

    cpu_millicores: int
    memory_mib: int
    target_cpu_percent: int


def _quantity_m(value: Any) -> int:
    text = str(value)
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def _quantity_mib(value: Any) -> int:
    text = str(value)
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(float(text) / 1024**2)


def pod_sizing(manifests: list[dict[str, Any]]) -> dict[str, PodSizing]:
    """Per Deployment name: the first container's CPU/memory request and its HPA's CPU target."""
    targets: dict[str, int] = {}
    for manifest in manifests:
        if manifest.get("kind") != "HorizontalPodAutoscaler":
            continue
        spec = manifest.get("spec") or {}
        scaled = (spec.get("scaleTargetRef") or {}).get("name", "")
        for metric in spec.get("metrics") or []:
            resource = metric.get("resource") or {}
            target = resource.get("target") or {}
            if resource.get("name") == "cpu" and target.get("averageUtilization"):
                targets[scaled] = int(target["averageUtilization"])
    sizing: dict[str, PodSizing] = {}
    for manifest in manifests:
        if manifest.get("kind") != "Deployment":
            continue
        name = (manifest.get("metadata") or {}).get("name", "")
        template = ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
        containers = template.get("containers")
        requests = ((containers or [{}])[0].get("resources") or {}).get("requests") or {}
        if name in targets and "cpu" in requests:
            sizing[name] = PodSizing(
                cpu_millicores=_quantity_m(requests["cpu"]),
                memory_mib=_quantity_mib(requests.get("memory", "0Mi")),
                target_cpu_percent=targets[name],
            )
    return sizing


def plan_capacity(
    users: int,
    profile: ActivityProfile,
    summary: dict[str, Any],
    env: EnvironmentConfig,
    routes: list[Route],
    *,
    pods: dict[str, PodSizing],
) -> CapacityPlan:
    """Replicas, nodes, database and cache for ``users`` on ``env``; see the module docstring.

    ``pods``: :func:`pod_sizing` of the environment's plan graph.
    """
    check_basis(summary, profile.basis, str(summary.get("scenario")))
    plan = CapacityPlan(env=env.name, users=users)
    exchanges = [exchange.name for exchange in env.exchanges]
    rates = expand_rates(profile.requests_per_user_per_day, exchanges)

    per_service: dict[str, float] = {}
    for endpoint, rate in sorted(rates.items()):
        average = users * rate / SECONDS_PER_DAY
        peak = average * profile.peak_to_average
        service = service_of(endpoint.partition(" ")[2], routes)
        plan.endpoints[endpoint] = {
            "per_user_per_day": round(rate, 6),
            "avg_rps": round(average, 3),
            "peak_rps": round(peak, 3),
        }
        per_service[service] = per_service.get(service, 0.0) + peak
        plan.step(
            f"peak {endpoint}",
            f"{users:,} users x {rate:g}/day / {SECONDS_PER_DAY:,} s = {average:.2f} rps average; "
            f"x {profile.peak_to_average:g} peak-to-average = {peak:.2f} rps -> {service}",
        )

    for service, peak in sorted(per_service.items()):
        config = _service_config(env, service)
        per_core, source = measured_rps_per_core(summary, service)
        pod = pods.get(service)
        if pod is None:
            raise BasisRefused(
                f"service {service!r}: no Deployment with a CPU request and a CPU-target HPA in the "
                f"{env.name} plan"
            )
        per_replica = per_core * pod.cpu_millicores / 1000 * pod.target_cpu_percent / 100
        needed = math.ceil(peak * profile.headroom / per_replica)
        replicas = max(needed, config.min_replicas)
        plan.services[service] = {
            "peak_rps": round(peak, 2),
            "rps_per_core": round(per_core, 2),
            "rps_source": source,
            "rps_per_replica": round(per_replica, 2),
            "replicas": replicas,
            "config_min": config.min_replicas,
            "config_max": config.max_replicas,
            "cpu_millicores": pod.cpu_millicores,
            "memory_mib": pod.memory_mib,
            "hpa_target_percent": pod.target_cpu_percent,
        }
        plan.step(
            f"replicas {service}",
            f"{per_core:,.1f} rps per core ({source}) x {pod.cpu_millicores}m CPU request x "
            f"{pod.target_cpu_percent}% HPA target = {per_replica:,.2f} rps per replica; "
            f"{peak:.2f} peak rps x {profile.headroom:g} headroom / {per_replica:,.2f} = {needed}; "
            f"min {config.min_replicas} -> {replicas}",
        )
        if replicas > config.max_replicas:
            plan.warnings.append(
                f"{service}: needs {replicas} replicas but max_replicas is {config.max_replicas} "
                f"in Pulumi.{env.name}.yaml"
            )

    _plan_nodes(plan, env)
    _plan_database(plan, profile, env, rates, users)
    _plan_cache(plan, profile, env, rates, users)
    if summary.get("scenario") != "stress":
        plan.warnings.append(
            f"rps per core comes from a {summary.get('scenario')} run: the load it offered, "
            "not the ceiling; a stress run's summary gives the rps each core holds at SLO"
        )
    return plan


def _plan_nodes(plan: CapacityPlan, env: EnvironmentConfig) -> None:
    if env.kubernetes is None:
        plan.step("nodes", f"{env.name} runs on ECS Fargate: no node groups to size")
        return
    cpu_m = sum(s["replicas"] * s["cpu_millicores"] for s in plan.services.values())
    memory_mib = sum(s["replicas"] * s["memory_mib"] for s in plan.services.values())
    plan.step("pod requests", f"sum of replicas x requests = {cpu_m:,} mCPU and {memory_mib:,} MiB")
    on_demand = [g for g in env.kubernetes.node_groups if g.capacity_type is CapacityType.on_demand]
    for group in env.kubernetes.node_groups:
        instance = group.instance_types[0]
        if instance not in EC2_TYPES:
            raise UsageProblem(
                f"node group {group.name}: instance type {instance} has no known vCPU/memory; "
                f"known: {', '.join(EC2_TYPES)}"
            )
        vcpu, gib = EC2_TYPES[instance]
        node_cpu = vcpu * 1000 * ALLOCATABLE_CPU - DAEMONSET_CPU_M
        node_mem = gib * 1024 * ALLOCATABLE_MEMORY - DAEMONSET_MEMORY_MIB
        if group in on_demand:
            share = 1 / len(on_demand)
            by_cpu = math.ceil(cpu_m * share / node_cpu)
            by_mem = math.ceil(memory_mib * share / node_mem)
            nodes = max(by_cpu, by_mem, group.min_size, env.network.az_count)
            plan.step(
                f"nodes {group.name}",
                f"{instance} ({vcpu} vCPU, {gib:g} GiB) gives {node_cpu:,.0f} mCPU / {node_mem:,.0f} MiB "
                "to pods; "
                f"CPU needs {by_cpu}, memory needs {by_mem}; at least min {group.min_size} and "
                f"{env.network.az_count} AZs -> {nodes}",
            )
        else:
            nodes = group.min_size
            plan.step(f"nodes {group.name}", f"{group.capacity_type.value} group keeps its minimum: {nodes}")
        plan.node_groups[group.name] = {"instance_type": instance, "nodes": nodes, "max_size": group.max_size}
        if nodes > group.max_size:
            plan.warnings.append(
                f"node group {group.name}: needs {nodes} nodes but max_size is {group.max_size} "
                f"in Pulumi.{env.name}.yaml"
            )


def _plan_database(
    plan: CapacityPlan, profile: ActivityProfile, env: EnvironmentConfig, rates: dict[str, float], users: int
) -> None:
    db = profile.database
    writes_per_day = sum(
        users * rate * _rate_for(e, db.ledger_writes_per_request) for e, rate in rates.items()
    )
    peak_writes = writes_per_day / SECONDS_PER_DAY * profile.peak_to_average
    if db.calibration is None:
        raise BasisRefused(
            "the profile records no measured database rate (database.calibration): run "
            "benchmarks/stack.py --backend real and record pgbench's ledger_post rate, the machine's "
            "vCPUs and the rows one posting writes"
        )
    writes_per_vcpu = db.calibration.rows_per_vcpu_per_s
    balance_peak = sum(v["peak_rps"] for e, v in plan.endpoints.items() if e.startswith("GET /v1/accounts"))
    miss_reads = balance_peak * (1 - profile.cache.hit_ratio)
    vcpus = math.ceil(
        (peak_writes / writes_per_vcpu + miss_reads / db.reads_per_vcpu_per_s) * profile.headroom
    )
    plan.step(
        "database load",
        f"{writes_per_day:,.0f} ledger rows/day -> {peak_writes:,.1f} writes/s at peak; "
        f"{balance_peak:,.1f} balance reads/s x {1 - profile.cache.hit_ratio:.0%} cache misses "
        f"= {miss_reads:,.1f} reads/s; pgbench: {db.calibration.transactions_per_s:,.0f} postings/s "
        f"x {db.calibration.rows_per_transaction:g} rows on {db.calibration.vcpus} vCPU "
        f"({db.calibration.measured_on}) = {writes_per_vcpu:,.0f} rows per vCPU-s; "
        f"vCPU = ({peak_writes:,.1f}/{writes_per_vcpu:,.0f} "
        f"+ {miss_reads:,.1f}/{db.reads_per_vcpu_per_s:g}) x {profile.headroom:g} = {vcpus}",
    )
    hot_bytes = users * db.bytes_per_user + writes_per_day * db.hot_days * db.bytes_per_ledger_row
    memory_gib = hot_bytes * (1 + db.index_overhead) / GIB / 0.75
    stored = (users * db.bytes_per_user + writes_per_day * db.retention_days * db.bytes_per_ledger_row) * (
        1 + db.index_overhead
    )
    storage_gb = max(math.ceil(stored / GIB), env.database.allocated_storage_gb)
    plan.step(
        "database memory and storage",
        f"hot data ({users:,} users x {db.bytes_per_user} B + {db.hot_days} days of rows "
        f"x {db.bytes_per_ledger_row} B) "
        f"x {1 + db.index_overhead:g} indexes / 75% cache share = {memory_gib:,.1f} GiB memory; "
        f"{db.retention_days} days retained = {stored / GIB:,.1f} GiB -> {storage_gb} GB allocated",
    )
    candidates = sorted(RDS_CLASSES.items(), key=lambda item: (item[1][0], item[1][1]))
    chosen = next(
        (
            name
            for name, (cpu, mem) in candidates
            if cpu >= vcpus and mem >= memory_gib and name.startswith("db.r")
        ),
        None,
    )
    current = RDS_CLASSES.get(env.database.instance_class)
    if current and current[0] >= vcpus and current[1] >= memory_gib:
        chosen = env.database.instance_class
    if chosen is None:
        chosen = candidates[-1][0]
        plan.warnings.append(
            f"database: {vcpus} vCPU / {memory_gib:,.0f} GiB exceeds the largest class {chosen}; "
            "shard the ledger or add read replicas"
        )
    plan.database = {
        "instance_class": chosen,
        "vcpu_needed": vcpus,
        "memory_gib_needed": round(memory_gib, 1),
        "storage_gb": storage_gb,
        "peak_writes_per_s": round(peak_writes, 1),
        "peak_reads_per_s": round(miss_reads, 1),
    }
    plan.step(
        "database class",
        f"smallest class with >= {vcpus} vCPU and >= {memory_gib:,.1f} GiB "
        f"(config: {env.database.instance_class}) -> {chosen}",
    )


def _plan_cache(
    plan: CapacityPlan, profile: ActivityProfile, env: EnvironmentConfig, rates: dict[str, float], users: int
) -> None:
    cache = profile.cache
    active = users * profile.daily_active_fraction
    data_gib = active * cache.bytes_per_active_user / GIB
    ops = sum(v["peak_rps"] for v in plan.endpoints.values()) * profile.headroom
    candidates = sorted(CACHE_TYPES.items(), key=lambda item: item[1])
    configured = env.cache.node_type
    chosen, memory = next(
        (
            (name, mem)
            for name, mem in candidates
            if mem * CACHE_USABLE_MEMORY >= data_gib and name.startswith("cache.r")
        ),
        candidates[-1],
    )
    if configured in CACHE_TYPES and CACHE_TYPES[configured] * CACHE_USABLE_MEMORY >= data_gib:
        chosen, memory = configured, CACHE_TYPES[configured]
    shards = max(
        math.ceil(data_gib / (memory * CACHE_USABLE_MEMORY)), math.ceil(ops / cache.ops_per_node_per_s), 1
    )
    plan.cache = {
        "node_type": chosen,
        "shards": shards,
        "replicas_per_shard": env.cache.num_nodes,
        "data_gib": round(data_gib, 2),
        "peak_ops_per_s": round(ops, 1),
    }
    plan.step(
        "cache",
        f"{active:,.0f} daily active users x {cache.bytes_per_active_user} B = {data_gib:,.2f} GiB; "
        f"{ops:,.0f} ops/s at peak with headroom; {chosen} holds "
        f"{memory * CACHE_USABLE_MEMORY:,.2f} GiB of data "
        f"and {cache.ops_per_node_per_s:,.0f} ops/s -> {shards} shard(s) x {env.cache.num_nodes} node(s)",
    )


def scaled_environment(
    env: EnvironmentConfig, plan: CapacityPlan, monthly_requests_millions: float
) -> EnvironmentConfig:
    """``env`` resized to the plan (for pricing it with the cost estimator)."""
    services = env.services.model_copy(
        update={
            name: getattr(env.services, name).model_copy(
                update=_replica_bounds(getattr(env.services, name), plan.services[name]["replicas"])
                if name in plan.services
                else {}
            )
            for name in ("wallet", "roundups")
        }
    )
    exchanges = [
        exchange.model_copy(
            update=_replica_bounds(exchange, plan.services[f"exchange-{exchange.name}"]["replicas"])
        )
        if f"exchange-{exchange.name}" in plan.services
        else exchange
        for exchange in env.exchanges
    ]
    update: dict[str, Any] = {
        "services": services,
        "exchanges": exchanges,
        "database": env.database.model_copy(
            update={
                "instance_class": plan.database["instance_class"],
                "allocated_storage_gb": plan.database["storage_gb"],
                "max_allocated_storage_gb": max(
                    plan.database["storage_gb"], env.database.max_allocated_storage_gb
                ),
            }
        ),
        "cache": env.cache.model_copy(
            update={
                "node_type": plan.cache["node_type"],
                "num_nodes": plan.cache["shards"] * env.cache.num_nodes,
            }
        ),
        "usage": env.usage.model_copy(update={"api_requests_millions": round(monthly_requests_millions, 3)}),
    }
    if env.kubernetes is not None:
        groups = [
            group.model_copy(
                update={
                    "desired_size": plan.node_groups[group.name]["nodes"],
                    "min_size": plan.node_groups[group.name]["nodes"],
                    "max_size": max(group.max_size, plan.node_groups[group.name]["nodes"]),
                }
            )
            for group in env.kubernetes.node_groups
        ]
        update["kubernetes"] = env.kubernetes.model_copy(update={"node_groups": groups})
    return env.model_copy(update=update)


def _replica_bounds(config: ServiceConfig, replicas: int) -> dict[str, int]:
    return {"min_replicas": replicas, "max_replicas": max(config.max_replicas, replicas)}


def monthly_requests_millions(plan: CapacityPlan) -> float:
    return sum(v["avg_rps"] for v in plan.endpoints.values()) * SECONDS_PER_DAY * 30 / 1e6
