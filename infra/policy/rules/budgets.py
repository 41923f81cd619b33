"""Cost guardrails and their alert channel: a budget per environment that alerts over an encrypted topic."""

from __future__ import annotations

from collections.abc import Iterator

from infra.policy.model import Context, Resource, Severity, Violation, prop, resource_rule, stack_rule

BUDGET = "aws:budgets/budget:Budget"
TOPIC = "aws:sns/topic:Topic"


@stack_rule(
    "WO-BUD-001",
    "The environment has a monthly cost budget that alerts",
    severity=Severity.mandatory,
    controls=("PCI 12.5.2",),
    remediation="Declare an aws.budgets.Budget (budget_type COST, time_unit MONTHLY) filtered to this "
    "environment's tag, with at least one notification to the budget alert addresses.",
)
def budget_present(ctx: Context) -> Iterator[Violation]:
    budgets = [b for b in ctx.of_type(BUDGET) if prop(b, "budgetType") == "COST"]
    if not budgets:
        yield Violation("no COST budget in this environment")
    for budget in budgets:
        if prop(budget, "timeUnit") != "MONTHLY":
            yield Violation(f"{budget['name']}: timeUnit is not MONTHLY", budget["urn"])
        if not prop(budget, "notifications"):
            yield Violation(
                f"{budget['name']}: no notifications, nobody hears when it is exceeded", budget["urn"]
            )


@resource_rule(
    "WO-SNS-001",
    "SNS topics are encrypted with a customer-managed KMS key",
    severity=Severity.mandatory,
    controls=("FSBP SNS.1", "PCI 3.5.1"),
    remediation="Set kms_master_key_id to a CMK whose policy lets the publishing service use it.",
    types=(TOPIC,),
)
def topic_encrypted(resource: Resource, ctx: Context) -> str | None:
    key = str(prop(resource, "kmsMasterKeyId", ""))
    if not key or "alias/aws/" in key:
        return "not encrypted with a customer-managed key"
    return None
