"""Kibana assets: data views, Lens panels, dashboards and alerting rules of an environment.

Panels and rules name their fields through small typed structures (``Panel``, ``Clause``), never
inside free text, so ``used_fields`` can list every field each index pattern must map — the test
holds them against the templates' mappings and the recorded APM field list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from contracts.config import EnvironmentConfig
from observability.streams import Stream, streams

APM_TRACES = "traces-apm*"
APM_METRICS = "metrics-apm.app*"
CIRCUIT_STATE = "walletstub.walletstub_circuit_state"
OUTBOX_LAG = "walletstub.walletstub_outbox_lag_seconds"
OUTBOX_DEPTH = "walletstub.walletstub_outbox_depth"
"""The services' Prometheus gauges as the APM agent reports them (prefix ``walletstub.``)."""


def apm_fields() -> dict[str, Any]:
    """The recorded APM data stream fields we use (``observability/data/apm_fields.json``)."""
    text = resources.files("observability").joinpath("data/apm_fields.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


@dataclass(frozen=True)
class DataView:
    """A Kibana data view over one index pattern."""

    id: str
    pattern: str
    name: str

    def saved_object(self) -> dict[str, Any]:
        return {
            "attributes": {"title": self.pattern, "name": self.name, "timeFieldName": "@timestamp"},
            "references": [],
        }


@dataclass(frozen=True)
class Clause:
    """One KQL clause: ``field: value``, ``field >= value`` or ``not field: value``."""

    field: str
    value: str | int
    op: str = ":"
    negate: bool = False

    def kql(self) -> str:
        value = json.dumps(self.value) if isinstance(self.value, str) else str(self.value)
        text = f"{self.field} {self.op} {value}" if self.op != ":" else f"{self.field}: {value}"
        return f"not {text}" if self.negate else text


def kql(clauses: tuple[Clause, ...]) -> str:
    return " and ".join(clause.kql() for clause in clauses)


@dataclass(frozen=True)
class Panel:
    """A Lens line chart: ``metric`` (count, max, average or p99 of ``metric_field``) over time, split
    by ``breakdown``, on documents matching ``where``."""

    id: str
    title: str
    view: DataView
    metric: str = "count"
    metric_field: str | None = None
    breakdown: str | None = None
    where: tuple[Clause, ...] = ()

    def fields(self) -> set[str]:
        names = {"@timestamp", *(clause.field for clause in self.where)}
        names |= {name for name in (self.metric_field, self.breakdown) if name}
        return names

    def _columns(self) -> dict[str, Any]:
        columns: dict[str, Any] = {
            "x": {
                "label": "@timestamp",
                "dataType": "date",
                "operationType": "date_histogram",
                "sourceField": "@timestamp",
                "isBucketed": True,
                "scale": "interval",
                "params": {"interval": "auto"},
            },
            "y": {
                "label": self.title,
                "dataType": "number",
                "operationType": "count" if self.metric == "count" else self.metric,
                "sourceField": self.metric_field or "___records___",
                "isBucketed": False,
                "scale": "ratio",
                **({"params": {"percentile": 99}} if self.metric == "percentile" else {}),
            },
        }
        if self.breakdown:
            columns["b"] = {
                "label": self.breakdown,
                "dataType": "string",
                "operationType": "terms",
                "sourceField": self.breakdown,
                "isBucketed": True,
                "scale": "ordinal",
                "params": {
                    "size": 10,
                    "orderBy": {"type": "column", "columnId": "y"},
                    "orderDirection": "desc",
                },
            }
        return columns

    def saved_object(self) -> dict[str, Any]:
        columns = self._columns()
        layer: dict[str, Any] = {
            "layerId": "layer1",
            "layerType": "data",
            "seriesType": "line",
            "xAccessor": "x",
            "accessors": ["y"],
        }
        if self.breakdown:
            layer["splitAccessor"] = "b"
        return {
            "attributes": {
                "title": self.title,
                "visualizationType": "lnsXY",
                "state": {
                    "datasourceStates": {
                        "formBased": {
                            "layers": {"layer1": {"columns": columns, "columnOrder": list(columns)}}
                        }
                    },
                    "visualization": {
                        "preferredSeriesType": "line",
                        "legend": {"isVisible": True, "position": "right"},
                        "layers": [layer],
                    },
                    "query": {"query": kql(self.where), "language": "kuery"},
                    "filters": [],
                },
            },
            "references": [
                {"type": "index-pattern", "id": self.view.id, "name": "indexpattern-datasource-layer-layer1"}
            ],
        }


@dataclass(frozen=True)
class Dashboard:
    id: str
    title: str
    panels: tuple[Panel, ...]

    def saved_object(self) -> dict[str, Any]:
        grid = [
            {
                "type": "lens",
                "panelIndex": str(index),
                "gridData": {
                    "x": 24 * (index % 2),
                    "y": 15 * (index // 2),
                    "w": 24,
                    "h": 15,
                    "i": str(index),
                },
                "embeddableConfig": {},
                "panelRefName": f"panel_{index}",
            }
            for index in range(len(self.panels))
        ]
        return {
            "attributes": {
                "title": self.title,
                "description": "walletops: managed by `walletops observability apply`",
                "panelsJSON": json.dumps(grid, sort_keys=True),
                "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}, sort_keys=True),
                "timeRestore": False,
                "kibanaSavedObjectMeta": {
                    "searchSourceJSON": json.dumps(
                        {"query": {"query": "", "language": "kuery"}, "filter": []}
                    )
                },
            },
            "references": [
                {"name": f"panel_{index}", "type": "lens", "id": panel.id}
                for index, panel in enumerate(self.panels)
            ],
        }


@dataclass(frozen=True)
class Rule:
    """A Kibana alerting rule; ``fields`` are the fields it reads from ``pattern``."""

    id: str
    name: str
    rule_type_id: str
    consumer: str
    pattern: str
    params: dict[str, Any]
    fields: frozenset[str] = field(default_factory=frozenset)

    def create_body(self) -> dict[str, Any]:
        """``POST /api/alerting/rule/<id>``: the rule with its type and consumer."""
        return {"rule_type_id": self.rule_type_id, "consumer": self.consumer, **self.update_body()}

    def update_body(self) -> dict[str, Any]:
        """``PUT /api/alerting/rule/<id>``: what can change once created."""
        return {
            "name": self.name,
            "tags": ["walletops"],
            "schedule": {"interval": "1m"},
            "params": self.params,
            "actions": [],
        }


@dataclass(frozen=True)
class KibanaAssets:
    data_views: tuple[DataView, ...]
    panels: tuple[Panel, ...]
    dashboards: tuple[Dashboard, ...]
    rules: tuple[Rule, ...]


def _views(env: EnvironmentConfig) -> dict[str, DataView]:
    views = {
        stream.kind: DataView(
            f"walletops-{env.name}-{stream.kind}", stream.name, f"walletops {stream.kind} ({env.name})"
        )
        for stream in streams(env)
    }
    views["apm"] = DataView(f"walletops-{env.name}-apm-traces", APM_TRACES, f"APM traces ({env.name})")
    views["metrics"] = DataView(
        f"walletops-{env.name}-apm-metrics", APM_METRICS, f"APM application metrics ({env.name})"
    )
    return views


def _es_query(
    rule_id: str, name: str, stream: Stream, clauses: tuple[Clause, ...], *, threshold: int, minutes: int
) -> Rule:
    """An Elasticsearch-query rule: more than ``threshold`` matching documents in ``minutes``."""
    must: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    for clause in clauses:
        if clause.op == ":":
            query: dict[str, Any] = {"term": {clause.field: clause.value}}
        else:
            bound = {">=": "gte", ">": "gt", "<=": "lte", "<": "lt"}[clause.op]
            query = {"range": {clause.field: {bound: clause.value}}}
        (must_not if clause.negate else must).append(query)
    es_query = {"query": {"bool": {"filter": must, "must_not": must_not}}}
    return Rule(
        rule_id,
        name,
        ".es-query",
        "alerts",
        stream.name,
        {
            "searchType": "esQuery",
            "index": [stream.name],
            "timeField": "@timestamp",
            "esQuery": json.dumps(es_query, sort_keys=True),
            "size": 0,
            "threshold": [threshold],
            "thresholdComparator": ">",
            "timeWindowSize": minutes,
            "timeWindowUnit": "m",
            "excludeHitsFromPreviousRun": True,
        },
        frozenset({"@timestamp", *(clause.field for clause in clauses)}),
    )


def _max_over(rule_id: str, name: str, pattern: str, metric: str, term: str, *, threshold: float) -> Rule:
    """An index-threshold rule: the largest ``metric`` per ``term`` over 5 minutes above ``threshold``."""
    return Rule(
        rule_id,
        name,
        ".index-threshold",
        "alerts",
        pattern,
        {
            "index": [pattern],
            "timeField": "@timestamp",
            "aggType": "max",
            "aggField": metric,
            "groupBy": "top",
            "termField": term,
            "termSize": 20,
            "timeWindowSize": 5,
            "timeWindowUnit": "m",
            "thresholdComparator": ">",
            "threshold": [threshold],
        },
        frozenset({"@timestamp", metric, term}),
    )


def assets(env: EnvironmentConfig) -> KibanaAssets:
    """Every Kibana asset of ``env``.

    Signals, as the services emit them (docs/observability-assets.md): APM transactions and exit
    spans (``traces-apm*``); the services' gauges as APM application metrics (``metrics-apm.app*``:
    circuit state per exchange, outbox depth and lag); audit events (``ledger.posted``,
    ``idempotency.replayed``, ``ledger.imbalance``); the gateway's access lines."""
    views = _views(env)
    by_kind = {stream.kind: stream for stream in streams(env)}
    name = env.name
    in_env = Clause("service.environment", name)
    transactions = (Clause("processor.event", "transaction"), in_env)
    exits = (Clause("processor.event", "span"), Clause("span.type", "external"), in_env)
    audit, access, apm, metrics = views["audit"], views["access"], views["apm"], views["metrics"]
    panels = {
        "rate": Panel(
            f"walletops-{name}-svc-rate",
            "Requests per service",
            apm,
            breakdown="service.name",
            where=transactions,
        ),
        "latency": Panel(
            f"walletops-{name}-svc-p99",
            "p99 latency per service (µs)",
            apm,
            metric="percentile",
            metric_field="transaction.duration.us",
            breakdown="service.name",
            where=transactions,
        ),
        "errors": Panel(
            f"walletops-{name}-svc-errors",
            "Failed transactions per service",
            apm,
            breakdown="service.name",
            where=(*transactions, Clause("event.outcome", "failure")),
        ),
        "exchange-calls": Panel(
            f"walletops-{name}-exchange-calls",
            "Outbound calls per destination",
            apm,
            breakdown="span.destination.service.resource",
            where=exits,
        ),
        "exchange-failures": Panel(
            f"walletops-{name}-exchange-failures",
            "Failed outbound calls per destination",
            apm,
            breakdown="span.destination.service.resource",
            where=(*exits, Clause("event.outcome", "failure")),
        ),
        "circuit": Panel(
            f"walletops-{name}-exchange-circuit",
            "Circuit state per exchange (0 closed, 1 half-open, 2 open)",
            metrics,
            metric="max",
            metric_field=CIRCUIT_STATE,
            breakdown="labels.circuit",
        ),
        "transfers": Panel(
            f"walletops-{name}-ledger-transfers",
            "Ledger postings",
            audit,
            where=(Clause("event.action", "ledger.posted"),),
        ),
        "replays": Panel(
            f"walletops-{name}-ledger-replays",
            "Idempotent replays per service",
            audit,
            breakdown="service.name",
            where=(Clause("event.action", "idempotency.replayed"),),
        ),
        "gw-401": Panel(
            f"walletops-{name}-gateway-401",
            "Gateway 401 by route",
            access,
            breakdown="labels.route",
            where=(Clause("http.response.status_code", 401),),
        ),
        "gw-429": Panel(
            f"walletops-{name}-gateway-429",
            "Gateway 429 by consumer",
            access,
            breakdown="labels.consumer",
            where=(Clause("http.response.status_code", 429),),
        ),
        "gw-5xx": Panel(
            f"walletops-{name}-gateway-5xx",
            "Gateway 5xx by route",
            access,
            breakdown="labels.route",
            where=(Clause("http.response.status_code", 500, op=">="),),
        ),
        "outbox-lag": Panel(
            f"walletops-{name}-outbox-lag",
            "Outbox lag (s): age of the oldest waiting row",
            metrics,
            metric="max",
            metric_field=OUTBOX_LAG,
            breakdown="labels.outbox",
        ),
        "outbox-depth": Panel(
            f"walletops-{name}-outbox-depth",
            "Outbox depth: rows waiting",
            metrics,
            metric="max",
            metric_field=OUTBOX_DEPTH,
            breakdown="labels.outbox",
        ),
    }
    dashboards = (
        Dashboard(
            f"walletops-{name}-services",
            f"walletops {name}: services (APM)",
            (panels["rate"], panels["latency"], panels["errors"]),
        ),
        Dashboard(
            f"walletops-{name}-exchanges",
            f"walletops {name}: exchanges",
            (panels["exchange-calls"], panels["exchange-failures"], panels["circuit"]),
        ),
        Dashboard(
            f"walletops-{name}-ledger", f"walletops {name}: ledger", (panels["transfers"], panels["replays"])
        ),
        Dashboard(
            f"walletops-{name}-gateway",
            f"walletops {name}: gateway",
            (panels["gw-401"], panels["gw-429"], panels["gw-5xx"]),
        ),
        Dashboard(
            f"walletops-{name}-outbox",
            f"walletops {name}: outbox",
            (panels["outbox-lag"], panels["outbox-depth"]),
        ),
    )
    apm_rule_fields = frozenset(
        {
            "@timestamp",
            "processor.event",
            "service.name",
            "service.environment",
            "transaction.type",
            "event.outcome",
        }
    )
    rules = (
        Rule(
            f"walletops-{name}-error-rate",
            f"walletops {name}: transaction error rate > 5 %",
            "apm.transaction_error_rate",
            "apm",
            APM_TRACES,
            {"threshold": 5, "windowSize": 5, "windowUnit": "m", "environment": name},
            apm_rule_fields,
        ),
        Rule(
            f"walletops-{name}-p99",
            f"walletops {name}: p99 latency > 800 ms",
            "apm.transaction_duration",
            "apm",
            APM_TRACES,
            {
                "aggregationType": "99th",
                "threshold": 800,
                "windowSize": 5,
                "windowUnit": "m",
                "environment": name,
            },
            apm_rule_fields | {"transaction.duration.us"},
        ),
        _max_over(
            f"walletops-{name}-circuit-open",
            f"walletops {name}: an exchange circuit is open",
            APM_METRICS,
            CIRCUIT_STATE,
            "labels.circuit",
            threshold=1.5,
        ),
        _es_query(
            f"walletops-{name}-ledger-imbalance",
            f"walletops {name}: a ledger transfer did not balance",
            by_kind["audit"],
            (Clause("event.action", "ledger.imbalance"),),
            threshold=0,
            minutes=15,
        ),
        _max_over(
            f"walletops-{name}-outbox-lag",
            f"walletops {name}: outbox lag > 60 s",
            APM_METRICS,
            OUTBOX_LAG,
            "labels.outbox",
            threshold=60,
        ),
        _es_query(
            f"walletops-{name}-gateway-5xx",
            f"walletops {name}: gateway 5xx spike (> 50 in 5 min)",
            by_kind["access"],
            (Clause("http.response.status_code", 500, op=">="),),
            threshold=50,
            minutes=5,
        ),
    )
    return KibanaAssets(tuple(views.values()), tuple(panels.values()), dashboards, rules)


def used_fields(kibana: KibanaAssets) -> dict[str, set[str]]:
    """Index pattern → every field the panels and rules on it read."""
    used: dict[str, set[str]] = {}
    for panel in kibana.panels:
        used.setdefault(panel.view.pattern, set()).update(panel.fields())
    for rule in kibana.rules:
        used.setdefault(rule.pattern, set()).update(rule.fields)
    return used
