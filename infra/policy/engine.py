"""Evaluate every rule over every environment of a plan: findings, per-rule verdicts, waivers applied.

Verdicts per (rule, environment): ``failed`` (an unwaived violation), ``waived`` (violations, all
covered by valid waivers), ``passed`` (applied to at least one resource or to the stack, no
violation) or ``not-applicable`` (nothing in this environment the rule looks at). The run fails
(exit 1) when a mandatory rule failed anywhere or a waiver has expired.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from contracts.project import ENVIRONMENTS
from infra.policy.model import Context, NotApplicable, Resource, Rule, Severity, Violation, all_rules
from infra.policy.scanners import Check
from infra.policy.waivers import NO_WAIVERS, Waiver, Waivers

if TYPE_CHECKING:
    from contracts.config import EnvironmentConfig
    from contracts.plan_graph import PlanGraph

Verdict = Literal["passed", "failed", "waived", "not-applicable"]


@dataclass(frozen=True)
class Finding:
    """One violation of one rule by one resource (or by the stack as a whole) in one environment."""

    rule_id: str
    severity: Severity
    env: str
    urn: str | None
    name: str | None
    type: str | None
    message: str
    status: Literal["failed", "waived"]
    waiver: Waiver | None = None
    expired_waiver: Waiver | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        for key in ("waiver", "expired_waiver"):
            waiver = getattr(self, key)
            data[key] = None if waiver is None else waiver.model_dump(mode="json")
        return data


@dataclass
class RuleResult:
    """The verdict of one rule in one environment and how many resources it looked at."""

    rule: Rule
    env: str
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    not_applicable_reason: str | None = None

    @property
    def verdict(self) -> Verdict:
        if any(f.status == "failed" for f in self.findings):
            return "failed"
        if self.findings:
            return "waived"
        return "passed" if self.checked else "not-applicable"


@dataclass
class Report:
    """Everything one ``walletops policy`` run found."""

    envs: list[str]
    results: list[RuleResult]
    waivers: Waivers
    today: date
    scanners: tuple[str, ...] = ()

    @property
    def findings(self) -> list[Finding]:
        return [finding for result in self.results for finding in result.findings]

    @property
    def expired_waivers(self) -> list[Waiver]:
        return self.waivers.expired(self.today)

    @property
    def mandatory_failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "failed" and f.severity is Severity.mandatory]

    @property
    def ok(self) -> bool:
        return not self.mandatory_failures and not self.expired_waivers

    def summary(self) -> dict[str, dict[str, int]]:
        """Per environment: how many rules passed, failed (mandatory/advisory), were waived or n/a."""
        table: dict[str, dict[str, int]] = {}
        for env in self.envs:
            counts = {
                "passed": 0,
                "failed-mandatory": 0,
                "failed-advisory": 0,
                "waived": 0,
                "not-applicable": 0,
            }
            for result in self.results:
                if result.env != env:
                    continue
                verdict = result.verdict
                key = f"failed-{result.rule.severity.value}" if verdict == "failed" else verdict
                counts[key] += 1
            table[env] = counts
        return table

    def unused_waivers(self) -> list[Waiver]:
        """Waivers that matched no finding although every environment they cover was evaluated."""
        used = {id(f.waiver) for f in self.findings if f.waiver} | {
            id(f.expired_waiver) for f in self.findings if f.expired_waiver
        }
        covered = [
            w
            for w in self.waivers.items
            if (w.env in self.envs or set(ENVIRONMENTS) <= set(self.envs))
            and (":" not in w.rule or w.rule.split(":", 1)[0] in self.scanners)
        ]
        return [w for w in covered if id(w) not in used]

    @property
    def rules(self) -> list[Rule]:
        """Every rule and scanner check of this report, by id."""
        unique = {result.rule.id: result.rule for result in self.results}
        return [unique[key] for key in sorted(unique)]

    def scanner_summary(self) -> dict[str, dict[str, dict[str, int]]]:
        """Per environment and scanner: checks run (check x subject), passed, failed and waived."""
        table: dict[str, dict[str, dict[str, int]]] = {}
        for env in self.envs:
            table[env] = {}
            for scanner in self.scanners:
                counts = {"run": 0, "passed": 0, "failed": 0, "waived": 0}
                for result in self.results:
                    if result.env != env or result.rule.area != scanner:
                        continue
                    failed = sum(f.status == "failed" for f in result.findings)
                    waived = len(result.findings) - failed
                    counts["run"] += result.checked
                    counts["failed"] += failed
                    counts["waived"] += waived
                    counts["passed"] += result.checked - failed - waived
                table[env][scanner] = counts
        return table


def _applies_to(rule: Rule, resource: Resource) -> bool:
    return not rule.types or resource["type"] in rule.types


def evaluate_rule(rule: Rule, ctx: Context) -> tuple[int, list[Violation], str | None]:
    """Run one rule: (resources or stacks checked, violations, why not applicable)."""
    violations: list[Violation] = []
    if rule.scope == "stack":
        try:
            violations.extend(rule.check(ctx))
        except NotApplicable as exc:
            return 0, [], str(exc)
        return 1, violations, None
    checked = 0
    reason = None
    for resource in ctx.resources:
        if not _applies_to(rule, resource):
            continue
        try:
            message = rule.check(resource, ctx)
        except NotApplicable as exc:
            reason = str(exc)
            continue
        checked += 1
        if message:
            violations.append(Violation(message, resource["urn"]))
    return checked, violations, None if checked else reason or "no resource of the types it checks"


def evaluate_environment(
    env: str,
    resources: Iterable[Resource],
    *,
    rules: list[Rule] | None = None,
    waivers: Waivers = NO_WAIVERS,
    today: date | None = None,
    config: EnvironmentConfig | None = None,
) -> list[RuleResult]:
    """All rules over one environment's resources."""
    ctx = Context(env, resources, today=today, config=config)
    results = []
    for rule in rules if rules is not None else all_rules():
        checked, violations, reason = evaluate_rule(rule, ctx)
        result = RuleResult(rule, env, checked, not_applicable_reason=reason)
        for violation in violations:
            resource = ctx.by_urn.get(violation.urn or "")
            name = resource["name"] if resource else None
            waiver = waivers.match(rule.id, env, violation.urn, name)
            valid = waiver is not None and not waiver.expired(ctx.today)
            result.findings.append(
                Finding(
                    rule_id=rule.id,
                    severity=rule.severity,
                    env=env,
                    urn=violation.urn,
                    name=name,
                    type=resource["type"] if resource else None,
                    message=violation.message,
                    status="waived" if valid else "failed",
                    waiver=waiver if valid else None,
                    expired_waiver=waiver if waiver is not None and not valid else None,
                )
            )
        results.append(result)
    return results


def evaluate_plan(
    plan: PlanGraph,
    *,
    waivers: Waivers = NO_WAIVERS,
    today: date | None = None,
    configs: Mapping[str, EnvironmentConfig] | None = None,
    rules: list[Rule] | None = None,
) -> Report:
    """Evaluate every environment of a plan graph."""
    day = today or date.today()
    chosen = rules if rules is not None else all_rules()
    results: list[RuleResult] = []
    envs = plan.names
    for env in envs:
        results.extend(
            evaluate_environment(
                env,
                [dict(resource) for resource in plan[env].resources],
                rules=chosen,
                waivers=waivers,
                today=day,
                config=(configs or {}).get(env),
            )
        )
    return Report(envs, results, waivers, day)


def _scanner_rule(check: Check) -> Rule:
    def _reported_by_the_scanner(*_: Any) -> None:
        raise NotApplicable(f"{check.rule_id} is evaluated by {check.scanner}, not by the rule engine")

    return Rule(
        id=check.rule_id,
        title=check.title,
        severity=Severity.mandatory,
        controls=(),
        remediation=check.guideline or f"see {check.scanner}'s documentation of {check.check_id}",
        scope="resource",
        types=(),
        check=_reported_by_the_scanner,
    )


def scanner_results(
    checks: Iterable[Check],
    plan: PlanGraph,
    *,
    waivers: Waivers = NO_WAIVERS,
    today: date | None = None,
) -> list[RuleResult]:
    """Scanner outcomes as rule results: one per (scanner check, environment), waivers applied.

    A scanner check is mandatory: its failures fail the run unless a valid waiver (by the
    ``<scanner>:<check id>`` and the resource's URN or the subject's name) covers them.
    """
    day = today or date.today()
    results: dict[tuple[str, str], RuleResult] = {}
    for check in checks:
        key = (check.rule_id, check.env)
        if key not in results:
            results[key] = RuleResult(_scanner_rule(check), check.env)
        result = results[key]
        result.checked += 1
        if check.passed:
            continue
        waiver = waivers.match(check.rule_id, check.env, check.urn, check.subject)
        valid = waiver is not None and not waiver.expired(day)
        resource = plan[check.env].by_urn.get(check.urn or "") if check.env in plan.names else None
        result.findings.append(
            Finding(
                rule_id=check.rule_id,
                severity=Severity.mandatory,
                env=check.env,
                urn=check.urn,
                name=check.subject,
                type=resource["type"] if resource else None,
                message=check.message or check.title,
                status="waived" if valid else "failed",
                waiver=waiver if valid else None,
                expired_waiver=waiver if waiver is not None and not valid else None,
            )
        )
    return [results[key] for key in sorted(results)]
