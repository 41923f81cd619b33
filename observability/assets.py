"""Every asset of an environment as the HTTP request that applies it, in dependency order.

ILM policies → component templates → ingest pipelines → index templates → snapshot repository and
SLM policy → Kibana data views, Lens panels, dashboards → alerting rules. ``render`` writes these
requests; ``apply`` reads each asset back (``read_path``), compares, and sends only what differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.config import EnvironmentConfig
from contracts.errors import UsageProblem
from observability import kibana, lifecycle, masking, templates
from observability.streams import streams

KINDS: tuple[str, ...] = (
    "ilm_policy",
    "component_template",
    "ingest_pipeline",
    "index_template",
    "snapshot_repository",
    "slm_policy",
    "data_view",
    "lens",
    "dashboard",
    "rule",
)
"""Dependency order: every kind needs only kinds before it."""

SAVED_OBJECT_TYPES = {"data_view": "index-pattern", "lens": "lens", "dashboard": "dashboard"}


@dataclass(frozen=True)
class Request:
    """One asset: the write that creates it, and how to read it back.

    ``update_method``/``update_body``: Kibana rules are created with POST and changed with PUT
    (without their type and consumer); every other asset's write is idempotent as it stands."""

    target: str
    kind: str
    name: str
    method: str
    path: str
    body: dict[str, Any]
    read_path: str
    update_method: str | None = None
    update_body: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    def desired(self) -> dict[str, Any]:
        """What the asset should look like when read back."""
        return self.update_body if self.update_body is not None else self.body

    def as_json(self) -> dict[str, Any]:
        return {"target": self.target, "method": self.method, "path": self.path, "body": self.body}


def _es(kind: str, name: str, path: str, body: dict[str, Any]) -> Request:
    return Request("elasticsearch", kind, name, "PUT", path, body, path)


def _saved_object(kind: str, object_id: str, body: dict[str, Any]) -> Request:
    path = f"/api/saved_objects/{SAVED_OBJECT_TYPES[kind]}/{object_id}"
    return Request("kibana", kind, object_id, "POST", f"{path}?overwrite=true", body, path)


def render(env: EnvironmentConfig, snapshot_bucket: str | None) -> list[Request]:
    """Every request for ``env``, in dependency order. Without a snapshot bucket (no account id
    given) the snapshot repository and SLM policy are left out; the CLI says so."""
    if env.logging.elastic.value == "opensearch":
        raise UsageProblem(
            f"--env {env.name}: logging.elastic is 'opensearch'; these assets (ILM, data streams, Kibana) "
            "are for Elasticsearch (eck or external)"
        )
    requests: list[Request] = []
    env_streams = streams(env)
    for stream in env_streams:
        requests.append(
            _es("ilm_policy", stream.asset, f"/_ilm/policy/{stream.asset}", lifecycle.ilm_policy(stream))
        )
    requests.append(
        _es(
            "component_template",
            templates.MAPPINGS_COMPONENT,
            f"/_component_template/{templates.MAPPINGS_COMPONENT}",
            templates.mappings_component(),
        )
    )
    for stream in env_streams:
        name = templates.settings_component_name(stream)
        requests.append(
            _es(
                "component_template",
                name,
                f"/_component_template/{name}",
                templates.settings_component(stream),
            )
        )
    for pipeline_id, body in masking.pipelines().items():
        requests.append(_es("ingest_pipeline", pipeline_id, f"/_ingest/pipeline/{pipeline_id}", body))
    for stream in env_streams:
        requests.append(
            _es(
                "index_template",
                stream.asset,
                f"/_index_template/{stream.asset}",
                templates.index_template(stream),
            )
        )
    if snapshot_bucket is not None:
        requests.append(
            _es(
                "snapshot_repository",
                lifecycle.REPOSITORY,
                f"/_snapshot/{lifecycle.REPOSITORY}",
                lifecycle.repository(env, snapshot_bucket),
            )
        )
        requests.append(
            _es(
                "slm_policy",
                lifecycle.SLM_POLICY,
                f"/_slm/policy/{lifecycle.SLM_POLICY}",
                lifecycle.slm_policy(env),
            )
        )
    ui = kibana.assets(env)
    requests.extend(_saved_object("data_view", view.id, view.saved_object()) for view in ui.data_views)
    requests.extend(_saved_object("lens", panel.id, panel.saved_object()) for panel in ui.panels)
    requests.extend(_saved_object("dashboard", board.id, board.saved_object()) for board in ui.dashboards)
    for rule in ui.rules:
        path = f"/api/alerting/rule/{rule.id}"
        requests.append(
            Request(
                "kibana", "rule", rule.id, "POST", path, rule.create_body(), path, "PUT", rule.update_body()
            )
        )
    return requests


def current_of(request: Request, response: Any) -> dict[str, Any] | None:
    """The asset inside the body of its GET answer (each API wraps it differently)."""
    if not isinstance(response, dict):
        return None
    name = request.name
    if request.kind == "ilm_policy":
        return {"policy": response[name]["policy"]} if name in response else None
    if request.kind == "component_template":
        found = [item["component_template"] for item in response.get("component_templates", [])]
        return found[0] if found else None
    if request.kind == "index_template":
        found = [item["index_template"] for item in response.get("index_templates", [])]
        return found[0] if found else None
    if request.kind == "slm_policy":
        return response[name]["policy"] if name in response else None
    if request.kind in ("ingest_pipeline", "snapshot_repository"):
        value = response.get(name)
        return value if isinstance(value, dict) else None
    return response


def write_rendered(requests: list[Request], directory: Path) -> list[Path]:
    """One file per request, ``NN-<kind>-<name>.json`` holding ``{target, method, path, body}``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, request in enumerate(requests, start=1):
        path = directory / f"{index:02d}-{request.kind}-{request.name}.json"
        path.write_text(json.dumps(request.as_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
