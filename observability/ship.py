"""Send ECS NDJSON log files (one JSON document per line) to their data streams with ``_bulk``.

The local stack keeps its logs as such files when no Elasticsearch is configured. Each document goes
to ``logs-<event.dataset>-<env>`` with ``op_type: create`` (data streams are append-only); the
environment is the document's ``service.environment`` (or ``data_stream.namespace``) when it is one
of ours, else ``--env``.
Lines that are not JSON objects, or not one of our datasets, are counted and named, never sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import AuthenticationException, AuthorizationException, Elasticsearch

from contracts.errors import UsageProblem
from contracts.project import ENVIRONMENTS
from observability.apply import Interrupted
from observability.streams import stream_for

CHUNK = 500


@dataclass
class ShipReport:
    files: int = 0
    created: dict[str, int] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.created.values()) + len(self.failed)


def _get(doc: dict[str, Any], dotted: str) -> Any:
    """``doc[a][b]`` or ``doc["a.b"]`` (ecs-logging writes some fields dotted, some nested)."""
    if dotted in doc:
        return doc[dotted]
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def ndjson_files(source: Path) -> list[Path]:
    if not source.is_dir():
        raise UsageProblem(f"--from {source}: not a folder")
    files = sorted(path for pattern in ("*.ndjson", "*.json") for path in source.rglob(pattern))
    if not files:
        raise UsageProblem(f"--from {source}: no *.ndjson or *.json files in it")
    return files


def routed(
    files: list[Path], default_env: str, report: ShipReport
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(data stream, where, document) for every shippable line; the others go to ``report.rejected``."""
    for path in files:
        report.files += 1
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path.name}:{number}"
                try:
                    doc = json.loads(line)
                except ValueError:
                    report.rejected.append(f"{where}: not JSON")
                    continue
                if not isinstance(doc, dict):
                    report.rejected.append(f"{where}: not a JSON object")
                    continue
                named = [_get(doc, "service.environment"), _get(doc, "data_stream.namespace")]
                env = next((name for name in named if name in ENVIRONMENTS), default_env)
                dataset = _get(doc, "event.dataset")
                stream = stream_for(dataset, env) if isinstance(dataset, str) else None
                if stream is None:
                    report.rejected.append(
                        f"{where}: event.dataset {dataset!r} is not walletops.service|audit|access"
                    )
                    continue
                yield stream, where, doc


def ship(es: Elasticsearch, source: Path, default_env: str) -> ShipReport:
    """Bulk-create every document of the files under ``source``, in chunks of 500."""
    report = ShipReport()
    batch: list[tuple[str, str, dict[str, Any]]] = []
    for item in routed(ndjson_files(source), default_env, report):
        batch.append(item)
        if len(batch) == CHUNK:
            _send(es, batch, report)
            batch = []
    if batch:
        _send(es, batch, report)
    return report


def _send(es: Elasticsearch, batch: list[tuple[str, str, dict[str, Any]]], report: ShipReport) -> None:
    operations: list[dict[str, Any]] = []
    for stream, _, doc in batch:
        operations.extend(({"create": {"_index": stream}}, doc))
    try:
        answer = es.bulk(operations=operations).body
    except (AuthenticationException, AuthorizationException) as exc:
        raise UsageProblem(f"Elasticsearch refused the credentials ({exc.meta.status})") from None
    except (TransportConnectionError, ConnectionTimeout) as exc:
        shipped = [f"{stream}: {count}" for stream, count in sorted(report.created.items())]
        raise Interrupted(
            f"Elasticsearch unreachable while shipping: {exc}",
            shipped,
            [f"{batch[0][1]} and every line after it"],
        ) from None
    for (stream, where, _), item in zip(batch, answer.get("items", []), strict=True):
        result = item.get("create", {})
        if 200 <= int(result.get("status", 500)) < 300:
            report.created[stream] = report.created.get(stream, 0) + 1
        else:
            error = result.get("error", {})
            report.failed.append(f"{where} → {stream}: {error.get('type')}: {error.get('reason')}")
