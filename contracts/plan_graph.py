"""The plan graph: what the Pulumi program would create, the one hand-off between infra and its readers.

The offline planner (``infra.planner``) runs the real program under mocks and returns a
:class:`PlanGraph`; policy, cost, the Kubernetes manifests, the scanners and the pipelines read it,
in memory or from the JSON file ``walletops plan --format json`` writes. Its shape (``PLAN_FORMAT``
1)::

    {"format": 1,
     "environments": {"<env>": {
         "region": "eu-west-1",
         "resources": [{"urn", "type", "name", "custom", "parent", "dependencies", "provider",
                        "protect", "inputs", "id", "outputs"}],   # sorted by URN
         "outputs": {...}}}}                      # the stack outputs

``inputs`` are the properties as the provider receives them (camelCase); a cloud resource also has
its mocked ``id`` and the ``outputs`` the provider adds (``arn``, autonamed ``name``, endpoints), so a
reader can tell that an input is another resource's output. The JSON writer is stable
(sorted keys, two-space indent), so equal graphs are byte-identical files. Graph queries (which
component a resource belongs to, resources by type, the Kubernetes manifests) live here, next to
the model, so every reader answers them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from contracts.documents import read_json_document
from contracts.errors import UsageProblem
from contracts.output import to_json
from contracts.project import ENVIRONMENTS

PLAN_FORMAT = 1
STACK_COMPONENT = "stack"
KUBERNETES_PREFIX = "kubernetes:"
_REQUIRED_KEYS = ("urn", "type", "name")


class PlanResource(TypedDict):
    """One resource as the engine would receive it (the JSON object of the plan file)."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    dependencies: list[str]
    provider: str | None
    protect: bool
    inputs: dict[str, Any]
    id: NotRequired[str]
    outputs: NotRequired[dict[str, Any]]
    """What the provider adds to the inputs (``arn``, an autonamed ``name``, endpoints): with ``id``,
    what other resources can take from this one, so readers can tell which input links to which."""


@dataclass(frozen=True)
class EnvironmentPlan:
    """The resources and stack outputs of one environment, with the queries every reader needs."""

    name: str
    region: str
    resources: list[PlanResource]
    outputs: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def by_urn(self) -> dict[str, PlanResource]:
        """Every resource by its URN."""
        return {resource["urn"]: resource for resource in self.resources}

    @property
    def custom_resources(self) -> list[PlanResource]:
        """The cloud resources (components, which only group others, left out)."""
        return [resource for resource in self.resources if resource.get("custom", True)]

    def of_type(self, *types: str) -> list[PlanResource]:
        """Resources whose type token is one of ``types``, in graph order."""
        wanted = set(types)
        return [resource for resource in self.resources if resource["type"] in wanted]

    def children(self, urn: str) -> list[PlanResource]:
        """Resources whose parent is ``urn``."""
        return [resource for resource in self.resources if resource.get("parent") == urn]

    def component_of(self, resource: Mapping[str, Any]) -> str:
        """The top-level walletops component a resource belongs to (see :func:`component_of`)."""
        return component_of(resource, self.by_urn)

    def kubernetes_manifests(self) -> list[dict[str, Any]]:
        """The Kubernetes objects of this environment as manifests (``apiVersion``, ``kind``, ...).

        Each is the resource's inputs as the Kubernetes provider sends them, with ``apiVersion`` and
        ``kind`` taken from the type token when the inputs lack them; Helm releases and provider
        resources are not manifests and are left out. Sorted by kind, namespace and name.
        """
        manifests = []
        for resource in self.resources:
            manifest = kubernetes_manifest(resource)
            if manifest:
                manifests.append(manifest)
        return sorted(manifests, key=_manifest_key)

    def to_document(self) -> dict[str, Any]:
        return {"region": self.region, "resources": self.resources, "outputs": self.outputs}


@dataclass(frozen=True)
class PlanGraph:
    """The plan of one or more environments, in the order they were asked for."""

    environments: dict[str, EnvironmentPlan]
    format: int = PLAN_FORMAT

    def __iter__(self) -> Iterator[EnvironmentPlan]:
        return iter(self.environments.values())

    def __getitem__(self, env: str) -> EnvironmentPlan:
        return self.environments[env]

    @property
    def names(self) -> list[str]:
        return list(self.environments)

    def select(self, envs: Iterable[str], label: str = "--plan") -> PlanGraph:
        """The graph restricted to ``envs``; an environment it lacks is a usage problem."""
        wanted = list(envs)
        missing = [env for env in wanted if env not in self.environments]
        if missing:
            have = ", ".join(self.environments) or "none"
            raise UsageProblem(f"{label}: no environment {', '.join(missing)} in it; it has: {have}")
        return PlanGraph({env: self.environments[env] for env in wanted}, self.format)

    def to_document(self) -> dict[str, Any]:
        """The JSON-shaped document (see the module docstring)."""
        return {
            "format": self.format,
            "environments": {name: env.to_document() for name, env in self.environments.items()},
        }

    def to_json(self) -> str:
        """Stable JSON: equal graphs give byte-identical text."""
        return to_json(self.to_document())

    @classmethod
    def from_document(cls, document: Any, label: str = "plan") -> PlanGraph:
        """Check the shape of a plan document and wrap it; a wrong shape names what is wrong."""
        if not isinstance(document, dict) or not isinstance(document.get("environments"), dict):
            raise UsageProblem(f"{label}: not a plan (an 'environments' mapping, from walletops plan)")
        fmt = document.get("format", PLAN_FORMAT)
        if fmt != PLAN_FORMAT:
            raise UsageProblem(f"{label}: plan format {fmt!r} is not supported; allowed: {PLAN_FORMAT}")
        environments: dict[str, EnvironmentPlan] = {}
        for name, env in sorted(document["environments"].items(), key=lambda item: _promotion_rank(item[0])):
            resources = env.get("resources") if isinstance(env, dict) else None
            if not isinstance(resources, list):
                raise UsageProblem(f"{label}: environment {name!r} has no 'resources' list")
            for index, resource in enumerate(resources):
                missing = [
                    key for key in _REQUIRED_KEYS if not isinstance(resource, dict) or key not in resource
                ]
                if missing:
                    raise UsageProblem(
                        f"{label}: environments.{name}.resources[{index}] lacks {', '.join(missing)}"
                    )
            environments[name] = EnvironmentPlan(
                name=name,
                region=str(env.get("region", "")),
                resources=resources,
                outputs=dict(env.get("outputs") or {}),
            )
        return cls(environments, fmt)


def _promotion_rank(env: str) -> tuple[int, str]:
    """Known environments in promotion order (the JSON file's keys are sorted alphabetically), then
    any other name."""
    return (ENVIRONMENTS.index(env), "") if env in ENVIRONMENTS else (len(ENVIRONMENTS), env)


def read_plan(path: Path, option: str = "--plan") -> PlanGraph:
    """A saved plan (``walletops plan --format json``); a missing, malformed or foreign file is a usage
    problem naming ``option`` and the path."""
    return PlanGraph.from_document(read_json_document(path, option), f"{option} {path}")


def write_plan(graph: PlanGraph, path: Path) -> None:
    """Write ``graph`` as stable JSON (creating folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(graph.to_json(), encoding="utf-8")


def component_of(resource: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> str:
    """The top-level walletops component a resource belongs to (its outermost ``walletops:`` parent);
    ``stack`` for a resource outside every component."""
    component = STACK_COMPONENT
    parent = resource.get("parent")
    while parent and parent in by_urn:
        node = by_urn[parent]
        if node["type"].startswith("walletops:"):
            component = node["type"].split(":")[-1]
        parent = node.get("parent")
    if resource["type"].startswith("walletops:") and component == STACK_COMPONENT:
        component = resource["type"].split(":")[-1]
    return component


def kubernetes_kind(type_token: str) -> tuple[str, str]:
    """``("apps/v1", "Deployment")`` for ``kubernetes:apps/v1:Deployment``; ``("", "")`` for anything
    that is not a Kubernetes object (other providers, Helm releases, the provider itself)."""
    if not type_token.startswith(KUBERNETES_PREFIX):
        return "", ""
    parts = type_token.split(":")
    if len(parts) != 3 or "/" not in parts[1] or parts[1].startswith("helm.sh/"):
        return "", ""
    group, version = parts[1].split("/", 1)
    if "/" in version:
        return "", ""
    api_version = version if group == "core" else f"{group}/{version}"
    return api_version, parts[2]


ENVELOPE_KEY = "4dabf18193072939515e22adb298388d"  # pragma: allowlist secret
ENVELOPE_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"  # pragma: allowlist secret
"""Pulumi's secret envelope in the plan: ``{ENVELOPE_KEY: ENVELOPE_SIGNATURE, "value": ...}``."""
REDACTED = "(sensitive)"


def redact_secrets(value: Any) -> Any:
    """``value`` with every Pulumi secret replaced by its shape: each scalar inside becomes
    ``"(sensitive)"``, maps and lists keep their keys and length, so a manifest stays valid for its
    schema and no secret reaches a scanner's input or a report."""
    if isinstance(value, Mapping):
        if value.get(ENVELOPE_KEY) == ENVELOPE_SIGNATURE:
            return _blank(value.get("value"))
        return {key: redact_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_secrets(item) for item in value]
    return value


def _blank(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _blank(redact_secrets(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [_blank(redact_secrets(item)) for item in value]
    return REDACTED


def kubernetes_manifest(resource: PlanResource) -> dict[str, Any]:
    """One Kubernetes object of the plan as a manifest (``apiVersion``, ``kind``, its inputs), secrets
    redacted (:func:`redact_secrets`); empty for a resource that is not a Kubernetes object."""
    api_version, kind = kubernetes_kind(resource["type"])
    if not kind:
        return {}
    inputs = redact_secrets(dict(resource.get("inputs", {})))
    return {"apiVersion": api_version, "kind": kind, **inputs}


def _manifest_key(manifest: dict[str, Any]) -> tuple[str, str, str]:
    metadata = manifest.get("metadata") or {}
    return (str(manifest["kind"]), str(metadata.get("namespace", "")), str(metadata.get("name", "")))
