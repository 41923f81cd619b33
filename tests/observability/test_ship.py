"""ship: every ECS NDJSON line goes to its data stream with op_type create; others are named, not sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.errors import UsageProblem
from observability.ship import ship


def _write(folder: Path, name: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def test_documents_are_routed_by_dataset_and_environment(fake_es, tmp_path: Path) -> None:
    es, state = fake_es
    _write(
        tmp_path / "wallet",
        "wallet.ndjson",
        [
            json.dumps(
                {"@timestamp": "2026-01-01T00:00:00Z", "event.dataset": "walletops.service", "message": "up"}
            ),
            json.dumps(
                {
                    "event": {"dataset": "walletops.audit", "action": "ledger.posted"},
                    "service": {"environment": "qa"},
                }
            ),
            json.dumps({"event.dataset": "walletops.audit", "data_stream": {"namespace": "stage"}}),
            "not json",
            json.dumps({"event": {"dataset": "nginx.access"}}),
            "",
        ],
    )
    _write(
        tmp_path,
        "gateway.ndjson",
        [json.dumps({"event.dataset": "walletops.access", "http": {"response": {"status_code": 429}}})],
    )
    report = ship(es, tmp_path, "dev")
    assert report.files == 2
    assert report.created == {
        "logs-walletops.access-dev": 1,
        "logs-walletops.service-dev": 1,
        "logs-walletops.audit-qa": 1,
        "logs-walletops.audit-stage": 1,
    }
    assert report.rejected == [
        "wallet.ndjson:4: not JSON",
        "wallet.ndjson:5: event.dataset 'nginx.access' is not walletops.service|audit|access",
    ]
    bulk = [payload for method, path, payload in state.requests if path == "/_bulk"]
    assert len(bulk) == 1 and all(set(action) == {"create"} for action in bulk[0][::2])


def test_failed_documents_are_reported(fake_es, tmp_path: Path) -> None:
    es, state = fake_es
    state.bulk_failures = {1}
    _write(
        tmp_path, "a.ndjson", [json.dumps({"event.dataset": "walletops.service", "n": n}) for n in range(3)]
    )
    report = ship(es, tmp_path, "dev")
    assert report.created == {"logs-walletops.service-dev": 2}
    assert report.failed == ["a.ndjson:2 → logs-walletops.service-dev: mapper_parsing_exception: bad"]


def test_empty_or_missing_folder_is_a_usage_problem(fake_es, tmp_path: Path) -> None:
    es, _ = fake_es
    with pytest.raises(UsageProblem, match=r"no \*\.ndjson"):
        ship(es, tmp_path, "dev")
    with pytest.raises(UsageProblem, match="not a folder"):
        ship(es, tmp_path / "nope", "dev")


def test_unreachable_cluster_names_what_was_shipped(fake_es, tmp_path: Path) -> None:
    from observability.apply import Interrupted

    es, state = fake_es
    state.fail_after = 0
    _write(tmp_path, "a.ndjson", [json.dumps({"event.dataset": "walletops.service"})])
    with pytest.raises(Interrupted) as caught:
        ship(es, tmp_path, "dev")
    assert caught.value.applied == [] and caught.value.not_applied == ["a.ndjson:1 and every line after it"]
