"""ECS mappings of the walletops log documents, as flat ``field -> mapping`` tables.

The services write ECS JSON (``ecs-logging``); these tables map the fields they send, following the
ECS field reference (types as ECS declares them: ``keyword``, ``match_only_text`` for messages,
``wildcard`` for URLs). ``labels.*`` is ECS's free keyword map.
``http.request.headers`` is not an ECS field: it holds the request headers a service chose to log
(masked), as one ``flattened`` field so header names never grow the mapping.
"""

from __future__ import annotations

from typing import Any

Mapping = dict[str, Any]

KEYWORD: Mapping = {"type": "keyword", "ignore_above": 1024}
TEXT: Mapping = {"type": "match_only_text"}
LONG: Mapping = {"type": "long"}

BASE: dict[str, Mapping] = {
    "@timestamp": {"type": "date"},
    "message": TEXT,
    "ecs.version": KEYWORD,
    "log.level": KEYWORD,
    "log.logger": KEYWORD,
    "event.dataset": KEYWORD,
    "event.action": KEYWORD,
    "event.outcome": KEYWORD,
    "event.kind": KEYWORD,
    "event.category": KEYWORD,
    "event.duration": LONG,
    "event.ingested": {"type": "date"},
    "service.name": KEYWORD,
    "service.version": KEYWORD,
    "service.environment": KEYWORD,
    "service.node.name": KEYWORD,
    "trace.id": KEYWORD,
    "span.id": KEYWORD,
    "transaction.id": KEYWORD,
    "host.name": KEYWORD,
    "process.pid": LONG,
    "process.thread.name": KEYWORD,
    "error.message": TEXT,
    "error.type": KEYWORD,
    "error.stack_trace": {"type": "wildcard"},
    "http.request.method": KEYWORD,
    "http.request.id": KEYWORD,
    "http.request.headers": {"type": "flattened"},
    "http.response.status_code": LONG,
    "http.response.body.bytes": LONG,
    "http.version": KEYWORD,
    "url.path": {"type": "wildcard"},
    "url.query": KEYWORD,
    "url.original": {"type": "wildcard", "fields": {"text": TEXT}},
    "url.domain": KEYWORD,
    "url.scheme": KEYWORD,
    "client.ip": {"type": "ip"},
    "source.ip": {"type": "ip"},
    "user_agent.original": KEYWORD,
    "user.id": KEYWORD,
    "data_stream.type": {"type": "constant_keyword"},
    "data_stream.dataset": {"type": "constant_keyword"},
    "data_stream.namespace": {"type": "constant_keyword"},
}
"""Every walletops document: base, log, event, service, tracing, error, HTTP and URL fields."""

LABELS: dict[str, Mapping] = {
    "labels.route": KEYWORD,
    "labels.consumer": KEYWORD,
    "labels.exchange": KEYWORD,
    "labels.transfer": KEYWORD,
    "labels.order": KEYWORD,
    "labels.sweep": KEYWORD,
}
"""Labels the dashboards group by: the gateway's ``route`` and ``consumer``; the ids audit events
carry (the services send every label as a string)."""

LABELS_DYNAMIC: list[dict[str, Any]] = [
    {
        "walletops_labels_keyword": {
            "path_match": "labels.*",
            "match_mapping_type": "string",
            "mapping": KEYWORD,
        }
    }
]
"""Any other ``labels.*`` string is a keyword, as ECS declares labels."""


def fields() -> dict[str, Mapping]:
    """The flat table of every mapped field (base and named labels)."""
    return {**BASE, **LABELS}


def properties(flat: dict[str, Mapping]) -> dict[str, Any]:
    """Nest a flat ``a.b.c -> mapping`` table into Elasticsearch ``properties``."""
    root: dict[str, Any] = {}
    for name in sorted(flat):
        node = root
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[leaf] = dict(flat[name])
    return root


def leaf_fields(props: dict[str, Any], prefix: str = "") -> set[str]:
    """Every field path that an Elasticsearch ``properties`` tree maps, multi-fields included."""
    names: set[str] = set()
    for key, value in props.items():
        path = f"{prefix}{key}"
        if "properties" in value:
            names |= leaf_fields(value["properties"], f"{path}.")
        else:
            names.add(path)
            names |= {f"{path}.{sub}" for sub in value.get("fields", {})}
    return names
