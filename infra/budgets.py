"""AWS Budgets per environment: a monthly cost budget from the estimate, alerting through SNS.

The limit is the environment's recorded cost estimate (``cost/estimates.json``, see
:mod:`contracts.estimates`) times ``budget.headroom`` from config, rounded up to whole dollars. The
budget counts only costs tagged ``environment=<env>`` (the tag must be activated as a
cost-allocation tag, ``user:environment``). It alerts at 80 % and 100 % of ACTUAL spend and at
100 % of FORECASTED spend, to a KMS-encrypted SNS topic that only ``budgets.amazonaws.com`` and
CloudWatch alarms (:mod:`infra.alarms`) of this account may publish to, and to the
``budget.alert_emails`` of config.

The KMS key passed in must let ``budgets.amazonaws.com`` use it (``kms:GenerateDataKey*``,
``kms:Decrypt``), or AWS Budgets cannot publish to the encrypted topic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent, policy_json

ALERTS: tuple[tuple[str, float], ...] = (("ACTUAL", 80.0), ("ACTUAL", 100.0), ("FORECASTED", 100.0))


def budget_limit(estimate_usd: float, headroom: float) -> int:
    """Monthly budget in whole USD: the estimate times the headroom, rounded up."""
    if estimate_usd <= 0:
        raise ValueError(f"cost estimate must be positive to set a budget, got {estimate_usd}")
    return math.ceil(round(estimate_usd * headroom, 6))


@dataclass
class BudgetsArgs:
    """``monthly_estimate_usd`` from :func:`contracts.estimates.monthly_estimate`; ``kms_key_arn``
    encrypts SNS."""

    monthly_estimate_usd: float
    kms_key_arn: pulumi.Input[str]


class Budgets(WalletComponent):
    """The environment's AWS Budget, its alert topic and the topic policy."""

    component = "budgets"

    def __init__(
        self, name: str, args: BudgetsArgs, env: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cost:Budgets", name, env, opts)
        self.limit_usd = budget_limit(args.monthly_estimate_usd, env.budget.headroom)
        caller = aws.get_caller_identity_output()
        self.topic = aws.sns.Topic(
            self.name("budget-alerts"),
            name=self.name("budget-alerts"),
            kms_master_key_id=args.kms_key_arn,
            tags=self.tags(),
            opts=self.child_opts(),
        )
        policy = aws.sns.TopicPolicy(
            self.name("budget-alerts-policy"),
            arn=self.topic.arn,
            policy=pulumi.Output.all(self.topic.arn, caller.account_id).apply(
                lambda values: policy_json(
                    [
                        {
                            "Sid": "AllowBudgetsToPublish",
                            "Effect": "Allow",
                            "Principal": {"Service": "budgets.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": values[0],
                            "Condition": {"StringEquals": {"aws:SourceAccount": values[1]}},
                        },
                        {
                            "Sid": "AllowAlarmsOfThisAccountToPublish",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": values[0],
                            "Condition": {"StringEquals": {"aws:SourceAccount": values[1]}},
                        },
                    ]
                )
            ),
            opts=self.child_opts(),
        )
        self.budget = aws.budgets.Budget(
            self.name("monthly"),
            name=self.name("monthly"),
            budget_type="COST",
            limit_amount=f"{self.limit_usd}",
            limit_unit="USD",
            time_unit="MONTHLY",
            cost_filters=[
                aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[f"user:environment${env.name}"])
            ],
            notifications=[
                aws.budgets.BudgetNotificationArgs(
                    comparison_operator="GREATER_THAN",
                    notification_type=kind,
                    threshold=threshold,
                    threshold_type="PERCENTAGE",
                    subscriber_sns_topic_arns=[self.topic.arn],
                    subscriber_email_addresses=list(env.budget.alert_emails),
                )
                for kind, threshold in ALERTS
            ],
            tags=self.tags(),
            opts=self.child_opts(depends_on=[policy]),
        )
        self.register_outputs(
            {"budget_name": self.budget.name, "limit_usd": self.limit_usd, "topic_arn": self.topic.arn}
        )
