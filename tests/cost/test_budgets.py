"""The Budgets component under Pulumi mocks: amount from the estimate, tag filter, alerts, encrypted topic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.budgets import budget_limit

ROOT = Path(__file__).resolve().parents[2]
KEY = "arn:aws:kms:eu-west-1:123456789012:key/sns"

PROGRAM = f"""
import json
from pathlib import Path
import pulumi
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
from infra.budgets import Budgets, BudgetsArgs
from contracts.config import load_environment
from infra.planner import PlanMocks, RecordingMonitor

model = load_environment("prod", Path({str(ROOT)!r}))
monitor = RecordingMonitor(PlanMocks(model.region))
pulumi.runtime.set_mocks(monitor.mocks, project="walletops", stack="prod", preview=False, monitor=monitor)
_sync_await(run_pulumi_func(lambda: Budgets("budgets", BudgetsArgs(1000.4, {KEY!r}), model)))
print(json.dumps(monitor.records, default=str))
"""


@pytest.fixture(scope="module")
def records() -> dict[str, dict]:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return {r["type"]: r for r in json.loads(result.stdout.splitlines()[-1])}


def test_limit_is_the_estimate_times_headroom_rounded_up():
    assert budget_limit(1000.4, 1.3) == 1301
    assert budget_limit(100.0, 1.2) == 120
    with pytest.raises(ValueError, match="must be positive"):
        budget_limit(0, 1.2)


def test_budget_amount_filter_and_alerts(records: dict[str, dict]):
    budget = records["aws:budgets/budget:Budget"]["inputs"]
    assert (budget["budgetType"], budget["timeUnit"], budget["limitUnit"]) == ("COST", "MONTHLY", "USD")
    assert budget["limitAmount"] == "1301"  # 1000.40 x prod headroom 1.3, rounded up
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": ["user:environment$prod"]}]
    alerts = {(n["notificationType"], n["threshold"]) for n in budget["notifications"]}
    assert alerts == {("ACTUAL", 80.0), ("ACTUAL", 100.0), ("FORECASTED", 100.0)}
    for notification in budget["notifications"]:
        assert notification["subscriberEmailAddresses"] == ["platform-prod@walletco.example"]
        assert len(notification["subscriberSnsTopicArns"]) == 1


def test_alert_topic_is_kms_encrypted_and_only_budgets_and_alarms_may_publish(records: dict[str, dict]):
    assert records["aws:sns/topic:Topic"]["inputs"]["kmsMasterKeyId"] == KEY
    policy = json.loads(records["aws:sns/topicPolicy:TopicPolicy"]["inputs"]["policy"])
    principals = [statement["Principal"] for statement in policy["Statement"]]
    assert principals == [{"Service": "budgets.amazonaws.com"}, {"Service": "cloudwatch.amazonaws.com"}]
    for statement in policy["Statement"]:
        assert statement["Action"] == "sns:Publish"
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_budget_resources_carry_the_standard_tags(records: dict[str, dict]):
    tags = records["aws:budgets/budget:Budget"]["inputs"]["tags"]
    assert tags["environment"] == "prod"
    assert tags["component"] == "budgets"
