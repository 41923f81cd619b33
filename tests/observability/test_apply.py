"""apply/diff against the fake cluster: dependency order, idempotency (a second apply sends no write),
diff after drift, and a run cut short naming what was and was not applied."""

from __future__ import annotations

import pytest

from observability.apply import Cluster, Interrupted, apply, diff, differences, status
from observability.assets import KINDS, render
from observability.lifecycle import snapshot_bucket


@pytest.fixture
def requests(load_env):
    env = load_env("prod")
    return render(env, snapshot_bucket(env, "123456789012"))


def test_first_apply_writes_everything_in_dependency_order(fake_es, fake_kibana, requests) -> None:
    es, state = fake_es
    kibana_client, kibana = fake_kibana
    report = apply(Cluster(es, kibana_client), requests)
    assert report.changed == len(requests) and report.skipped == []
    paths = [path for _, path, _ in state.writes()] + [path for _, path, _ in kibana.writes()]
    assert paths == [
        r.read_path if r.kind != "data_view" and r.target == "elasticsearch" else r.path.split("?")[0]
        for r in requests
    ]
    order = [KINDS.index(r.kind) for r in requests]
    assert order == sorted(order)
    first = {
        kind: paths.index(next(r.read_path for r in requests if r.kind == kind))
        for kind in (
            "ilm_policy",
            "component_template",
            "ingest_pipeline",
            "index_template",
            "snapshot_repository",
            "slm_policy",
        )
    }
    assert (
        first["ilm_policy"]
        < first["component_template"]
        < first["ingest_pipeline"]
        < first["index_template"]
        < first["snapshot_repository"]
        < first["slm_policy"]
    )


def test_second_apply_sends_no_write(fake_es, fake_kibana, requests) -> None:
    es, state = fake_es
    kibana_client, kibana = fake_kibana
    apply(Cluster(es, kibana_client), requests)
    es_writes, kibana_writes = len(state.writes()), len(kibana.writes())
    again = apply(Cluster(es, kibana_client), requests)
    assert again.changed == 0
    assert all(change.action == "unchanged" for change in again.changes)
    assert len(state.writes()) == es_writes and len(kibana.writes()) == kibana_writes


def test_diff_shows_drift_and_apply_repairs_only_it(fake_es, fake_kibana, requests) -> None:
    es, state = fake_es
    kibana_client, kibana = fake_kibana
    cluster = Cluster(es, kibana_client)
    assert {c.action for c in diff(cluster, requests).changes} == {"create"}
    assert state.writes() == [] and kibana.writes() == []
    apply(cluster, requests)
    state.objects["/_ilm/policy/walletops-audit-prod"]["policy"]["phases"]["delete"]["min_age"] = "30d"
    rule_path = "/api/alerting/rule/walletops-prod-p99"
    kibana.objects[rule_path]["params"]["threshold"] = 5000
    changes = {c.key: c for c in diff(cluster, requests).changes if c.action != "unchanged"}
    assert set(changes) == {"ilm_policy/walletops-audit-prod", "rule/walletops-prod-p99"}
    assert changes["ilm_policy/walletops-audit-prod"].differences == [
        '.policy.phases.delete.min_age: "30d" → "2557d"'
    ]
    before = len(kibana.writes())
    assert apply(cluster, requests).changed == 2
    method, path, body = kibana.writes()[before]
    assert (method, path) == ("PUT", rule_path) and "rule_type_id" not in body


def test_without_kibana_the_kibana_assets_are_skipped(fake_es, requests) -> None:
    es, state = fake_es
    report = apply(Cluster(es, None), requests)
    assert len(report.skipped) == sum(r.target == "kibana" for r in requests) > 0
    assert all(path.startswith("/_") for _, path, _ in state.writes())


def test_unreachable_midway_names_what_was_and_was_not_applied(fake_es, requests) -> None:
    es, state = fake_es
    state.fail_after = 4
    with pytest.raises(Interrupted) as caught:
        apply(Cluster(es, None), requests)
    assert caught.value.applied == ["ilm_policy/walletops-service-prod", "ilm_policy/walletops-audit-prod"]
    assert caught.value.not_applied[0] == "ilm_policy/walletops-access-prod"
    assert "Elasticsearch unreachable" in caught.value.reason


def test_differences_ignore_added_defaults_but_not_changed_values() -> None:
    assert differences({"a": {"b": True}}, {"a": {"b": "true", "c": 1}, "d": 2}) == []
    assert differences({"n": 1}, {"n": "1"}) == []
    assert differences({"s": '{"x": 1}'}, {"s": '{"y": 2, "x": 1}'}) == []
    assert differences({"a": [1, 2]}, {"a": [1]}) == [".a: [1] → [1, 2]"]
    assert differences({"a": "x"}, {}) == [".a: missing"]


def test_status_reports_health_ilm_errors_and_pipeline_failures(fake_es) -> None:
    es, _ = fake_es
    found = status(es)
    assert found.health["status"] == "green" and found.ilm_errors == {} and found.ok
    assert found.ingest["walletops-mask"] == {"count": 7, "failed": 1}
    assert found.ingest["walletops-ecs"] == {"count": 0, "failed": 0}


def test_status_names_indices_whose_lifecycle_step_failed(fake_es) -> None:
    es, state = fake_es
    state.ilm_errors = {
        ".ds-logs-walletops.audit-prod-2026.01.01-000001": {
            "step": "ERROR",
            "step_info": {"type": "illegal_argument_exception", "reason": "policy does not exist"},
        }
    }
    found = status(es)
    assert not found.ok
    assert found.ilm_errors == {
        ".ds-logs-walletops.audit-prod-2026.01.01-000001": "ERROR: policy does not exist"
    }
