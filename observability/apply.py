"""Apply, diff and status against a live Elasticsearch (official client) and Kibana (httpx).

Each asset is read back first and written only when it differs, so a second ``apply`` sends no write.
"Differs" means: some value we set is missing or other on the cluster. Values the cluster adds
itself (defaults, versions, dates) are not ours and are ignored; numbers and booleans compare equal
to the strings Elasticsearch returns for settings; JSON held in strings (Kibana's ``panelsJSON``,
a rule's ``esQuery``) is compared parsed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    Elasticsearch,
    NotFoundError,
)

from contracts.errors import UsageProblem
from observability.assets import Request, current_of
from observability.masking import pipelines


class Interrupted(Exception):
    """The run stopped part way (unreachable cluster, refused request): exit 1 naming what was and
    was not applied."""

    def __init__(self, reason: str, applied: list[str], not_applied: list[str]) -> None:
        self.reason, self.applied, self.not_applied = reason, applied, not_applied
        super().__init__(reason)

    def lines(self) -> list[str]:
        return [
            self.reason,
            f"applied ({len(self.applied)}): {', '.join(self.applied) or 'nothing'}",
            f"not applied ({len(self.not_applied)}): {', '.join(self.not_applied) or 'nothing'}",
        ]


@dataclass
class Change:
    """What apply does (or did) to one asset: create, update or nothing."""

    key: str
    action: str
    differences: list[str] = field(default_factory=list)


@dataclass
class Report:
    changes: list[Change]
    skipped: list[str]

    @property
    def changed(self) -> int:
        return sum(change.action != "unchanged" for change in self.changes)


def differences(desired: Any, current: Any, path: str = "") -> list[str]:
    """Where ``current`` does not hold ``desired`` (see the module docstring for what counts)."""
    where = path or "/"
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return [f"{where}: missing"]
        found: list[str] = []
        for key, value in desired.items():
            if key not in current:
                found.append(f"{path}.{key}: missing")
            else:
                found.extend(differences(value, current[key], f"{path}.{key}"))
        return found
    if isinstance(desired, list):
        if not isinstance(current, list) or len(current) != len(desired):
            return [f"{where}: {_short(current)} → {_short(desired)}"]
        return [
            diff
            for index, item in enumerate(desired)
            for diff in differences(item, current[index], f"{path}[{index}]")
        ]
    if isinstance(desired, str) and isinstance(current, str) and desired[:1] in ("{", "["):
        try:
            return differences(json.loads(desired), json.loads(current), path)
        except ValueError:
            pass
    if desired == current or (
        isinstance(desired, bool | int | float) != isinstance(current, bool | int | float)
        and str(desired).lower() == str(current).lower()
    ):
        return []
    return [f"{where}: {_short(current)} → {_short(desired)}"]


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


class Cluster:
    """Reads and writes assets; ``kibana`` None leaves the Kibana assets out (reported as skipped)."""

    def __init__(self, es: Elasticsearch, kibana: httpx.Client | None) -> None:
        self.es, self.kibana = es, kibana

    def reaches(self, request: Request) -> bool:
        return request.target == "elasticsearch" or self.kibana is not None

    def read(self, request: Request) -> dict[str, Any] | None:
        if request.target == "elasticsearch":
            try:
                response = self.es.perform_request(
                    "GET", request.read_path, headers={"accept": "application/json"}
                )
            except NotFoundError:
                return None
            return current_of(request, response.body)
        answer = self._kibana("GET", request.read_path)
        if answer.status_code == 404:
            return None
        self._check(answer, request)
        return current_of(request, answer.json())

    def write(self, request: Request, exists: bool) -> None:
        method, body = request.method, request.body
        if exists and request.update_method:
            method, body = request.update_method, request.update_body or {}
        path = request.read_path if method != request.method else request.path
        if request.target == "elasticsearch":
            headers = {"accept": "application/json", "content-type": "application/json"}
            self.es.perform_request(method, path, body=body, headers=headers)
            return
        self._check(self._kibana(method, path, body), request)

    def _kibana(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        assert self.kibana is not None
        answer = self.kibana.request(method, path, json=body)
        if answer.status_code in (401, 403):
            raise UsageProblem(f"Kibana refused the credentials ({answer.status_code}) on {method} {path}")
        return answer

    @staticmethod
    def _check(answer: httpx.Response, request: Request) -> None:
        if answer.status_code >= 400:
            raise ApiRefused(f"Kibana answered {answer.status_code} for {request.key}: {answer.text[:300]}")


class ApiRefused(Exception):
    """A request the server refused for a reason other than credentials."""


def _guard(requests: list[Request], step: Callable[[Request], None]) -> None:
    """Run ``step`` on each request; translate connection and credential failures."""
    done: list[str] = []
    for index, request in enumerate(requests):
        try:
            step(request)
        except (AuthenticationException, AuthorizationException) as exc:
            raise UsageProblem(
                f"Elasticsearch refused the credentials ({exc.meta.status}); set ELASTICSEARCH_API_KEY or "
                "ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD (or a secret file)"
            ) from None
        except (TransportConnectionError, ConnectionTimeout, httpx.TransportError) as exc:
            target = "Kibana" if request.target == "kibana" else "Elasticsearch"
            raise Interrupted(
                f"{target} unreachable at {request.key}: {exc}", done, [r.key for r in requests[index:]]
            ) from None
        except (ApiError, ApiRefused) as exc:
            raise Interrupted(
                f"{request.key} refused: {exc}", done, [r.key for r in requests[index:]]
            ) from None
        done.append(request.key)


def diff(cluster: Cluster, requests: list[Request]) -> Report:
    """What ``apply`` would do, without writing."""
    reachable = [request for request in requests if cluster.reaches(request)]
    changes: list[Change] = []

    def compare(request: Request) -> None:
        current = cluster.read(request)
        if current is None:
            changes.append(Change(request.key, "create"))
        else:
            found = differences(request.desired(), current)
            changes.append(Change(request.key, "update" if found else "unchanged", found))

    _guard(reachable, compare)
    return Report(changes, [r.key for r in requests if not cluster.reaches(r)])


def apply(cluster: Cluster, requests: list[Request]) -> Report:
    """Create or update, in dependency order, only the assets that differ."""
    reachable = [request for request in requests if cluster.reaches(request)]
    changes: list[Change] = []

    def converge(request: Request) -> None:
        current = cluster.read(request)
        found = [] if current is None else differences(request.desired(), current)
        if current is not None and not found:
            changes.append(Change(request.key, "unchanged"))
            return
        cluster.write(request, exists=current is not None)
        changes.append(Change(request.key, "create" if current is None else "update", found))

    _guard(reachable, converge)
    return Report(changes, [r.key for r in requests if not cluster.reaches(r)])


@dataclass
class Status:
    health: dict[str, Any]
    ilm_errors: dict[str, str]
    ingest: dict[str, dict[str, int]]

    @property
    def ok(self) -> bool:
        return self.health.get("status") != "red" and not self.ilm_errors


def status(es: Elasticsearch, pipeline_ids: Iterable[str] | None = None) -> Status:
    """Cluster health, indices whose ILM step failed, and our pipelines' processed/failed counts."""
    wanted = set(pipeline_ids or pipelines())
    steps: list[Request] = []
    result: dict[str, Any] = {}

    def fetch(_: Request) -> None:
        result["health"] = es.cluster.health().body
        explain = es.perform_request(
            "GET",
            "/_all/_ilm/explain",
            params={"only_errors": "true"},
            headers={"accept": "application/json"},
        ).body
        result["ilm"] = {
            index: f"{info.get('step')}: {info.get('step_info', {}).get('reason', info.get('step_info'))}"
            for index, info in explain.get("indices", {}).items()
        }
        stats = es.nodes.stats(metric="ingest").body
        totals: dict[str, dict[str, int]] = {name: {"count": 0, "failed": 0} for name in sorted(wanted)}
        for node in stats.get("nodes", {}).values():
            for name, counts in node.get("ingest", {}).get("pipelines", {}).items():
                if name in totals:
                    totals[name]["count"] += int(counts.get("count", 0))
                    totals[name]["failed"] += int(counts.get("failed", 0))
        result["ingest"] = totals

    steps.append(
        Request("elasticsearch", "status", "cluster", "GET", "/_cluster/health", {}, "/_cluster/health")
    )
    _guard(steps, fetch)
    return Status(result["health"], result["ilm"], result["ingest"])
