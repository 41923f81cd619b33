"""The rule model: what a guardrail is, the context it runs in, and the registry that holds them.

A rule is a plain function over plan-graph resources (the dicts of ``walletops plan``: ``urn``,
``type``, ``name``, ``parent``, ``dependencies``, ``inputs`` in the provider's camelCase). The same
function runs in ``walletops policy`` (offline, over the plan) and in the CrossGuard pack (over what
``pulumi preview`` sends), so a guardrail is written, tested and reviewed once.

Two shapes exist:

- a *resource rule* looks at one resource of the listed types and returns ``None`` (compliant) or a
  message (violation); it may read other resources through the :class:`Context` when ``graph`` is set
  (e.g. "this VPC has a flow log");
- a *stack rule* looks at the whole environment and yields :class:`Violation` s (e.g. "EBS encryption
  by default is switched on").

Either may raise :class:`NotApplicable` (e.g. a prod-only rule in dev).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

if TYPE_CHECKING:
    from contracts.config import EnvironmentConfig

Resource = dict[str, Any]


class Severity(StrEnum):
    """``mandatory`` blocks the change (exit 1, CrossGuard MANDATORY); ``advisory`` is reported only."""

    mandatory = "mandatory"
    advisory = "advisory"


class NotApplicable(Exception):
    """Raised by a rule when it does not apply here (e.g. a prod-only rule evaluated in dev)."""


@dataclass(frozen=True)
class Violation:
    """One violation of a stack rule; ``urn`` names the offending resource when there is one."""

    message: str
    urn: str | None = None


ResourceCheck = Callable[[Resource, "Context"], str | None]
StackCheck = Callable[["Context"], Iterable[Violation]]


@dataclass(frozen=True)
class Rule:
    """A guardrail: identity, the controls it evidences, how to fix it, and the check itself."""

    id: str
    title: str
    severity: Severity
    controls: tuple[str, ...]
    remediation: str
    scope: Literal["resource", "stack"]
    types: tuple[str, ...]
    check: Callable[..., Any] = field(repr=False, compare=False)
    graph: bool = False

    @property
    def area(self) -> str:
        """The rule family: ``KMS`` for ``WO-KMS-001``, the scanner for ``checkov:CKV_AWS_16``."""
        if ":" in self.id:
            return self.id.split(":", 1)[0]
        return self.id.split("-")[1]


class Context:
    """What a rule may look at: the environment name, its resources and the date waivers/versions use."""

    def __init__(
        self,
        env: str,
        resources: Iterable[Resource],
        today: date | None = None,
        config: EnvironmentConfig | None = None,
    ) -> None:
        self.env = env
        self.resources: list[Resource] = list(resources)
        self.today = today or date.today()
        self.config = config
        self.by_urn: dict[str, Resource] = {r["urn"]: r for r in self.resources}
        self._by_type: dict[str, list[Resource]] = {}
        for resource in self.resources:
            self._by_type.setdefault(resource["type"], []).append(resource)

    @property
    def is_production(self) -> bool:
        return self.env == "prod"

    def of_type(self, *types: str) -> list[Resource]:
        """Resources of any of ``types``, in plan (URN) order."""
        found: list[Resource] = []
        for typ in types:
            found.extend(self._by_type.get(typ, []))
        return found

    def referencing(self, target: Resource, *types: str) -> list[Resource]:
        """Resources of ``types`` that depend on ``target`` (take one of its outputs as an input)."""
        return [r for r in self.of_type(*types) if target["urn"] in r.get("dependencies", ())]

    def referenced_by(self, source: Resource, *types: str) -> list[Resource]:
        """Resources of ``types`` whose outputs ``source`` takes as inputs."""
        wanted = set(types)
        return [
            self.by_urn[urn]
            for urn in source.get("dependencies", ())
            if urn in self.by_urn and self.by_urn[urn]["type"] in wanted
        ]


_REGISTRY: dict[str, Rule] = {}


def _register(rule: Rule) -> None:
    if rule.id in _REGISTRY:
        raise ValueError(f"duplicate rule id {rule.id}")
    _REGISTRY[rule.id] = rule


def resource_rule(
    rule_id: str,
    title: str,
    *,
    severity: Severity,
    controls: Iterable[str],
    remediation: str,
    types: Iterable[str],
    graph: bool = False,
) -> Callable[[ResourceCheck], ResourceCheck]:
    """Register ``fn(resource, ctx) -> message | None`` as a rule over resources of ``types``."""

    def decorate(fn: ResourceCheck) -> ResourceCheck:
        _register(
            Rule(rule_id, title, severity, tuple(controls), remediation, "resource", tuple(types), fn, graph)
        )
        return fn

    return decorate


def stack_rule(
    rule_id: str,
    title: str,
    *,
    severity: Severity,
    controls: Iterable[str],
    remediation: str,
) -> Callable[[StackCheck], StackCheck]:
    """Register ``fn(ctx) -> violations`` as a rule over a whole environment."""

    def decorate(fn: StackCheck) -> StackCheck:
        _register(Rule(rule_id, title, severity, tuple(controls), remediation, "stack", (), fn, True))
        return fn

    return decorate


def all_rules() -> list[Rule]:
    """Every registered rule, sorted by id (importing the rule modules registers them)."""
    from infra.policy import rules  # noqa: F401 - registers the rules

    return sorted(_REGISTRY.values(), key=lambda rule: rule.id)


def rules_by_id() -> dict[str, Rule]:
    return {rule.id: rule for rule in all_rules()}


# -- helpers the rules share ---------------------------------------------------------------------


def is_object(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """A JSON object: a dict, or the lazy mapping CrossGuard hands out during preview."""
    return isinstance(value, Mapping)


def is_array(value: Any) -> TypeGuard[Sequence[Any]]:
    """A JSON array: a list, or the lazy sequence CrossGuard hands out during preview."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def prop(resource: Resource, path: str, default: Any = None) -> Any:
    """The input at a dotted ``path`` (``vpcConfig.endpointPublicAccess``); lists take their first item.

    Inputs are read lazily: under CrossGuard a value unknown during preview raises the SDK's
    ``UnknownValueError`` only when a rule actually reads it (the engine then skips that policy).
    """
    value: Any = resource.get("inputs", {})
    for part in path.split("."):
        if is_array(value):
            value = value[0] if value else None
        if not is_object(value) or part not in value:
            return default
        value = value[part]
    return default if value is None else value


def secret_value(value: Any) -> Any:
    """Unwrap a secret as the plan or the engine may carry it (Pulumi's secret signature object)."""
    if (
        is_object(value)
        and value.get("4dabf18193072939515e22adb298388d") == "1b47061264138c4ac30d75fd1eb44270"
    ):
        return value.get("value")
    return value


def policy_document(value: Any) -> Mapping[str, Any] | None:
    """A policy document from a JSON string or an object; ``None`` when absent or unparsable."""
    if is_object(value):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def statements(document: Mapping[str, Any] | None) -> Iterator[Mapping[str, Any]]:
    """The statements of a policy document, whether ``Statement`` is one object or a list."""
    if not document:
        return
    body = document.get("Statement", [])
    for statement in body if is_array(body) else [body]:
        if is_object(statement):
            yield statement


def as_list(value: Any) -> list[Any]:
    """A policy field that may be a scalar or a list, as a list."""
    if value is None:
        return []
    return list(value) if is_array(value) else [value]


def tags_of(resource: Resource) -> dict[str, str]:
    tags = prop(resource, "tags", {})
    return dict(tags) if is_object(tags) else {}
