"""Fakes for the observability tests: an Elasticsearch node behind the official client and a Kibana
behind httpx, both recording every request and serving back what was written, wrapped as the real
APIs wrap it (so ``apply`` reads and compares exactly as against a cluster)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from elastic_transport import ApiResponseMeta, BaseNode, HttpHeaders
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport._node import NodeApiResponse
from elasticsearch import Elasticsearch

from contracts.config import EnvironmentConfig, load_environment

ROOT = Path(__file__).resolve().parents[2]
WRITES = ("PUT", "POST", "DELETE")


class FakeState:
    """What the fake cluster holds, every request it saw, and an optional failure after N requests."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.fail_after: int | None = None
        self.status: int | None = None
        self.bulk_failures: set[int] = set()
        self.ilm_errors: dict[str, Any] = {}

    def writes(self, target: str | None = None) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] in WRITES and (target is None or r[1].startswith(target))]


def _wrap(path: str, stored: Any) -> Any:
    """The GET answer of a stored asset, shaped as Elasticsearch returns it."""
    parts = path.strip("/").split("/")
    name = parts[-1]
    if path.startswith("/_ilm/policy/"):
        return {name: {"version": 1, "modified_date": "2026-01-01T00:00:00Z", "policy": stored["policy"]}}
    if path.startswith("/_component_template/"):
        return {"component_templates": [{"name": name, "component_template": stored}]}
    if path.startswith("/_index_template/"):
        return {
            "index_templates": [
                {"name": name, "index_template": {**stored, "data_stream": {"hidden": False}}}
            ]
        }
    if path.startswith("/_slm/policy/"):
        return {name: {"version": 1, "policy": stored}}
    if path.startswith("/_snapshot/"):
        settings = {
            key: str(value).lower() if isinstance(value, bool) else value
            for key, value in stored["settings"].items()
        }
        return {name: {"type": stored["type"], "settings": settings}}
    return {name: stored}


class FakeNode(BaseNode):
    """An Elasticsearch node in memory; ``STATE`` is set per test by the ``fake_es`` fixture."""

    STATE: FakeState

    def perform_request(
        self, method: str, target: str, body: bytes | None = None, headers: Any = None, **_: Any
    ) -> NodeApiResponse:
        state = self.STATE
        path = urlsplit(target).path
        payload: Any = None
        if body:
            text = body.decode()
            payload = (
                [json.loads(line) for line in text.splitlines() if line]
                if path == "/_bulk"
                else json.loads(text)
            )
        state.requests.append((method, path, payload))
        if state.fail_after is not None and len(state.requests) > state.fail_after:
            raise TransportConnectionError("connection refused (fake)")
        status, answer = self._answer(method, path, payload)
        meta = ApiResponseMeta(
            status=state.status or status,
            http_version="1.1",
            headers=HttpHeaders({"x-elastic-product": "Elasticsearch", "content-type": "application/json"}),
            duration=0.0,
            node=self.config,
        )
        return NodeApiResponse(meta, json.dumps(answer).encode())

    def _answer(self, method: str, path: str, payload: Any) -> tuple[int, Any]:
        state = self.STATE
        if path == "/_bulk":
            items = []
            for index in range(0, len(payload), 2):
                number = index // 2
                if number in state.bulk_failures:
                    items.append(
                        {
                            "create": {
                                "status": 400,
                                "error": {"type": "mapper_parsing_exception", "reason": "bad"},
                            }
                        }
                    )
                else:
                    stream = payload[index]["create"]["_index"]
                    state.objects.setdefault(f"docs/{stream}", []).append(payload[index + 1])
                    items.append({"create": {"_index": stream, "status": 201}})
            return 200, {"errors": bool(state.bulk_failures), "items": items}
        if path == "/_cluster/health":
            return 200, {
                "cluster_name": "fake",
                "status": "green",
                "number_of_nodes": 1,
                "unassigned_shards": 0,
            }
        if path == "/_all/_ilm/explain":
            return 200, {"indices": state.ilm_errors}
        if path.startswith("/_nodes/"):
            return 200, {
                "nodes": {"n1": {"ingest": {"pipelines": {"walletops-mask": {"count": 7, "failed": 1}}}}}
            }
        if method == "PUT":
            state.objects[path] = payload
            return 200, {"acknowledged": True}
        if method == "GET":
            if path in state.objects:
                return 200, _wrap(path, state.objects[path])
            return 404, {"error": {"type": "resource_not_found_exception"}, "status": 404}
        return 405, {"error": "not supported by the fake"}


@pytest.fixture
def fake_es() -> tuple[Elasticsearch, FakeState]:
    state = FakeState()
    FakeNode.STATE = state
    client = Elasticsearch("http://fake-es:9200", node_class=FakeNode, max_retries=0)
    return client, state


class FakeKibana:
    """Kibana's saved-objects and alerting APIs in memory, as an httpx transport."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.requests: list[tuple[str, str, Any]] = []

    def writes(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] in WRITES]

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path
        self.requests.append((request.method, path, body))
        if request.method == "GET":
            if path not in self.objects:
                return httpx.Response(404, json={"statusCode": 404})
            return httpx.Response(200, json=self.objects[path])
        if path.startswith("/api/saved_objects/"):
            self.objects[path] = {"id": path.rsplit("/", 1)[1], "version": "WzEsMV0=", **body}
        elif request.method == "POST":
            self.objects[path] = {**body, "enabled": True, "params": {**body["params"], "size": 0}}
        else:
            self.objects[path] = {**self.objects[path], **body}
        return httpx.Response(200, json=self.objects[path])


@pytest.fixture
def fake_kibana() -> tuple[httpx.Client, FakeKibana]:
    kibana = FakeKibana()
    client = httpx.Client(base_url="http://fake-kibana:5601", transport=httpx.MockTransport(kibana.handler))
    return client, kibana


@pytest.fixture(scope="session")
def load_env() -> Callable[[str], EnvironmentConfig]:
    return lambda name: load_environment(name, ROOT)
