"""Against a real Elasticsearch (and Kibana when KIBANA_URL is set): apply, apply again (0 changes),
ship and find, the masking pipeline simulated on the case table, ILM explain. Elsewhere: not run."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest
import yaml

from contracts.config import load_environment
from observability import connect
from observability.apply import Cluster, apply
from observability.assets import render
from observability.masking import MASK_PIPELINE
from observability.ship import ship

pytestmark = pytest.mark.elasticsearch
ROOT = Path(__file__).resolve().parents[2]
CASES = yaml.safe_load((ROOT / "tests" / "data" / "masking_cases.yaml").read_text())["cases"]


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    url = os.environ.get("ELASTICSEARCH_URL")
    if not url:
        pytest.skip("not run: ELASTICSEARCH_URL not set")
    creds = connect.credentials()
    kibana_url = os.environ.get("KIBANA_URL")
    kibana = connect.kibana(kibana_url, creds) if kibana_url else None
    if kibana is not None:
        _wait_for_kibana(kibana)
    return Cluster(connect.elasticsearch(url, creds), kibana)


def _wait_for_kibana(kibana: httpx.Client, seconds: float = 300) -> None:
    """Kibana answers 503 while it starts (a service container is "up" long before Kibana is)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = kibana.get("/api/status")
            if answer.status_code == 200 and answer.json()["status"]["overall"]["level"] == "available":
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"Kibana not available after {seconds:.0f} s"
        time.sleep(5)


@pytest.fixture(scope="module")
def applied(cluster: Cluster) -> Cluster:
    requests = render(load_environment("dev", ROOT), None)
    first = apply(cluster, requests)
    assert len(first.changes) == sum(cluster.reaches(r) for r in requests)
    return cluster


def test_second_apply_changes_nothing(applied: Cluster) -> None:
    again = apply(applied, render(load_environment("dev", ROOT), None))
    assert [c.key for c in again.changes if c.action != "unchanged"] == []


def test_simulated_pipeline_masks_every_case_in_every_field(applied: Cluster) -> None:
    docs = [
        {
            "_source": {
                "message": c["input"],
                "url": {"path": c["input"]},
                "error": {"message": c["input"]},
                "labels": {"note": c["input"]},
                "http": {"request": {"headers": {"x-note": c["input"]}}},
            }
        }
        for c in CASES
    ]
    answer = applied.es.ingest.simulate(id=MASK_PIPELINE, docs=docs).body
    for case, result in zip(CASES, answer["docs"], strict=True):
        source = result["doc"]["_source"]
        values = [
            source["message"],
            source["url"]["path"],
            source["error"]["message"],
            source["labels"]["note"],
            source["http"]["request"]["headers"]["x-note"],
        ]
        assert values == [case["masked"]] * 5, case["name"]


def test_shipped_logs_are_found_masked_and_managed_by_ilm(applied: Cluster, tmp_path: Path) -> None:
    marker = f"probe-{time.time_ns()}"
    line = {
        "@timestamp": "2026-01-01T00:00:00Z",
        "event": {"dataset": "walletops.service"},
        "service": {"name": "wallet", "environment": "dev"},
        "message": f"{marker} card 4111111111111111",
    }
    (tmp_path / "wallet.ndjson").write_text(json.dumps(line) + "\n")
    report = ship(applied.es, tmp_path, "dev")
    assert report.created == {"logs-walletops.service-dev": 1} and report.failed == []
    applied.es.indices.refresh(index="logs-walletops.service-dev")
    hits = applied.es.search(
        index="logs-walletops.service-dev", query={"match_phrase": {"message": marker}}
    ).body
    assert [hit["_source"]["message"] for hit in hits["hits"]["hits"]] == [f"{marker} card [masked-pan]"]
    explain = applied.es.ilm.explain_lifecycle(index="logs-walletops.service-dev").body["indices"]
    assert explain and all(
        info["managed"] and info["policy"] == "walletops-service-dev" for info in explain.values()
    )
