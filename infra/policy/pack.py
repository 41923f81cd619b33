"""Adapters from the walletops rules to CrossGuard policies, so the real engine enforces the same checks.

- a resource rule that reads only its own resource becomes a ``ResourceValidationPolicy``;
- a graph or stack rule becomes a ``StackValidationPolicy`` over every resource of the stack;
- mandatory rules block (``EnforcementLevel.MANDATORY``), advisory ones warn.

Waivers from ``policy-waivers.yaml`` apply as in ``walletops policy``: a validly waived violation is
not reported by its rule but by the advisory ``walletops-waived-findings`` policy (shown, never
hidden), and the mandatory ``walletops-waivers-valid`` policy fails while a waiver is expired.
The environment is the stack name, read from each resource's URN.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from contracts.config import ConfigError, EnvironmentConfig, load_environment
from infra.policy.engine import evaluate_rule
from infra.policy.model import Context, NotApplicable, Resource, Rule, all_rules, rules_by_id
from infra.policy.model import Severity as RuleSeverity
from infra.policy.waivers import NO_WAIVERS, WAIVERS_FILE, Waivers, load_waivers

PACK_NAME = "walletops-guardrails"
ENFORCEMENT = {
    RuleSeverity.mandatory: EnforcementLevel.MANDATORY,
    RuleSeverity.advisory: EnforcementLevel.ADVISORY,
}
SEVERITY = {RuleSeverity.mandatory: Severity.HIGH, RuleSeverity.advisory: Severity.MEDIUM}


def env_of(urn: str) -> str:
    """The stack (environment) name of a URN ``urn:pulumi:<stack>::<project>::<type>::<name>``."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


def from_policy_resource(resource: Any) -> Resource:
    """A CrossGuard ``PolicyResource`` as a plan-graph resource dict."""
    return {
        "urn": resource.urn,
        "type": resource.resource_type,
        "name": resource.name,
        "parent": resource.parent.urn if resource.parent is not None else None,
        "dependencies": [dependency.urn for dependency in resource.dependencies],
        "inputs": resource.props,
    }


def from_validation_args(args: ResourceValidationArgs) -> Resource:
    """The resource of a ``ResourceValidationArgs`` (no graph: dependencies are unknown here)."""
    return {
        "urn": args.urn,
        "type": args.resource_type,
        "name": args.name,
        "parent": getattr(args.opts, "parent", None),
        "dependencies": [],
        "inputs": args.props,
    }


@dataclass
class PackContext:
    """Project-level inputs of the pack, read once: environment configs and the waivers."""

    project_dir: Path | None
    today: date = field(default_factory=date.today)
    _configs: dict[str, EnvironmentConfig | None] = field(default_factory=dict)
    _waivers: Waivers | None = None

    def config(self, env: str) -> EnvironmentConfig | None:
        if env not in self._configs:
            try:
                self._configs[env] = load_environment(env, self.project_dir) if self.project_dir else None
            except ConfigError:
                self._configs[env] = None
        return self._configs[env]

    @property
    def waivers(self) -> Waivers:
        if self._waivers is None:
            path = self.project_dir / WAIVERS_FILE if self.project_dir else None
            self._waivers = load_waivers(path, set(rules_by_id()), self.today) if path else NO_WAIVERS
        return self._waivers

    def context(self, env: str, resources: list[Resource]) -> Context:
        return Context(env, resources, today=self.today, config=self.config(env))

    def waived(self, rule: Rule, env: str, urn: str | None, name: str | None) -> bool:
        waiver = self.waivers.match(rule.id, env, urn, name)
        return waiver is not None and not waiver.expired(self.today)


def _describe(rule: Rule, message: str) -> str:
    return f"[{rule.id}] {message}. Fix: {rule.remediation}"


def _resource_validator(
    rule: Rule, pack: PackContext
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if rule.types and args.resource_type not in rule.types:
            return
        resource = from_validation_args(args)
        env = env_of(args.urn)
        try:
            message = rule.check(resource, pack.context(env, [resource]))
        except NotApplicable:
            return
        if message and not pack.waived(rule, env, args.urn, args.name):
            report_violation(_describe(rule, message), None)

    return validate


def _stack_violations(
    rule: Rule, pack: PackContext, args: StackValidationArgs
) -> list[tuple[str, str | None, str]]:
    """(environment, urn, message) of every violation of ``rule`` in the stack."""
    resources = [from_policy_resource(r) for r in args.resources]
    if not resources:
        return []
    env = env_of(resources[0]["urn"])
    ctx = pack.context(env, resources)
    _checked, violations, _reason = evaluate_rule(rule, ctx)
    return [(env, v.urn, v.message) for v in violations]


def _stack_validator(rule: Rule, pack: PackContext) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        names = {r.urn: r.name for r in args.resources}
        for env, urn, message in _stack_violations(rule, pack, args):
            if not pack.waived(rule, env, urn, names.get(urn or "")):
                report_violation(_describe(rule, message), urn)

    return validate


def _waived_findings(
    rules: list[Rule], pack: PackContext
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        names = {r.urn: r.name for r in args.resources}
        for rule in rules:
            for env, urn, message in _stack_violations(rule, pack, args):
                waiver = pack.waivers.match(rule.id, env, urn, names.get(urn or ""))
                if waiver is not None and not waiver.expired(pack.today):
                    report_violation(
                        f"[{rule.id}] WAIVED until {waiver.expires}: {message} ({waiver.reason})", urn
                    )

    return validate


def _expired_waivers(pack: PackContext) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for waiver in pack.waivers.expired(pack.today):
            report_violation(
                f"waiver for {waiver.rule} on {waiver.resource} expired on {waiver.expires}", None
            )

    return validate


def _policy(rule: Rule, pack: PackContext) -> Policy:
    common: Mapping[str, Any] = {
        "description": rule.title,
        "enforcement_level": ENFORCEMENT[rule.severity],
        "severity": SEVERITY[rule.severity],
        "tags": list(rule.controls),
        "remediation_steps": rule.remediation,
        "display_name": f"{rule.id} {rule.title}",
    }
    if rule.scope == "resource" and not rule.graph:
        return ResourceValidationPolicy(name=rule.id, validate=_resource_validator(rule, pack), **common)
    return StackValidationPolicy(name=rule.id, validate=_stack_validator(rule, pack), **common)


def build_policies(project_dir: Path | None = None, today: date | None = None) -> list[Policy]:
    """Every rule as a CrossGuard policy, plus the waiver policies. Starts no server."""
    pack = PackContext(project_dir, today or date.today())
    rules = all_rules()
    policies = [_policy(rule, pack) for rule in rules]
    policies.append(
        StackValidationPolicy(
            name="walletops-waived-findings",
            description="Findings accepted in policy-waivers.yaml, reported so they stay visible",
            validate=_waived_findings(rules, pack),
            enforcement_level=EnforcementLevel.ADVISORY,
        )
    )
    policies.append(
        StackValidationPolicy(
            name="walletops-waivers-valid",
            description="No waiver in policy-waivers.yaml has expired",
            validate=_expired_waivers(pack),
            enforcement_level=EnforcementLevel.MANDATORY,
        )
    )
    return policies
