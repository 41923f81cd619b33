"""Every field a dashboard panel or an alerting rule reads exists where it reads it: in the walletops
templates' mappings, or in the recorded APM data stream fields."""

from __future__ import annotations

from observability import ecs
from observability.kibana import APM_TRACES, apm_fields, assets, used_fields
from observability.streams import streams
from observability.templates import mappings


def test_fields_used_by_dashboards_and_rules_are_mapped(load_env) -> None:
    env = load_env("prod")
    mapped = ecs.leaf_fields(mappings()["properties"])
    apm = set(apm_fields()["fields"])
    used = used_fields(assets(env))
    assert set(used) == {stream.name for stream in streams(env)} | {APM_TRACES}
    missing = {
        pattern: sorted(fields - (apm if pattern == APM_TRACES else mapped))
        for pattern, fields in used.items()
    }
    assert {pattern: names for pattern, names in missing.items() if names} == {}


def test_the_check_bites_on_an_unmapped_field(load_env) -> None:
    mapped = ecs.leaf_fields(mappings()["properties"])
    assert "labels.outbox_lag_seconds" in mapped and "url.original.text" in mapped
    assert "labels.outbox_lag" not in mapped


def test_recorded_apm_fields_name_their_source() -> None:
    recorded = apm_fields()
    assert recorded["source"]["repository"] == "elastic/apm-server"
    assert all(info["file"] in recorded["source"]["files"] for info in recorded["fields"].values())


def test_dashboards_rules_and_views_cover_the_issue(load_env) -> None:
    ui = assets(load_env("prod"))
    assert len(ui.dashboards) == 5 and all(board.panels for board in ui.dashboards)
    assert {rule.id.removeprefix("walletops-prod-") for rule in ui.rules} == {
        "error-rate",
        "p99",
        "circuit-open",
        "ledger-imbalance",
        "outbox-lag",
        "gateway-5xx",
    }
    references = {ref["id"] for board in ui.dashboards for ref in board.saved_object()["references"]}
    assert references == {panel.id for panel in ui.panels}
