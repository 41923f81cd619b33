"""Every field a dashboard panel or an alerting rule reads exists where it reads it: in the walletops
templates' mappings, or in the recorded APM data stream fields."""

from __future__ import annotations

from dataclasses import replace

from observability import ecs
from observability.kibana import APM_METRICS, APM_TRACES, apm_fields, assets, used_fields
from observability.streams import streams
from observability.templates import mappings


def unmapped(used: dict[str, set[str]]) -> dict[str, list[str]]:
    """Index pattern → the fields read there that nothing maps."""
    mapped = ecs.leaf_fields(mappings()["properties"])
    apm = {pattern: set(fields) for pattern, fields in apm_fields()["index_patterns"].items()}
    missing = {pattern: sorted(fields - apm.get(pattern, mapped)) for pattern, fields in used.items()}
    return {pattern: names for pattern, names in missing.items() if names}


def test_fields_used_by_dashboards_and_rules_are_mapped(load_env) -> None:
    env = load_env("prod")
    used = used_fields(assets(env))
    audit_and_access = {stream.name for stream in streams(env) if stream.kind != "service"}
    assert set(used) == audit_and_access | {APM_TRACES, APM_METRICS}
    assert unmapped(used) == {}


def test_the_check_bites_on_an_unmapped_field(load_env) -> None:
    ui = assets(load_env("prod"))
    planted = replace(ui.panels[0], metric="max", metric_field="transaction.duration")
    log_panel = next(panel for panel in ui.panels if panel.view.pattern.startswith("logs-"))
    typo = replace(log_panel, breakdown="labels.rute")
    found = unmapped(used_fields(replace(ui, panels=(*ui.panels, planted, typo))))
    assert found == {APM_TRACES: ["transaction.duration"], log_panel.view.pattern: ["labels.rute"]}


def test_recorded_apm_fields_name_their_source() -> None:
    recorded = apm_fields()
    assert recorded["source"]["repository"] == "elastic/apm-server"
    files = recorded["source"]["files"]
    assert all(info["file"] in files for p in recorded["index_patterns"].values() for info in p.values())


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
