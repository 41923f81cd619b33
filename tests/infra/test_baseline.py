"""The account baseline: trail, GuardDuty (EKS + RDS), Config rules, Security Hub, Access Analyzer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from plan_helpers import key_arn_of, of_type, one

from contracts.config import load_environment
from infra.baseline import CONFIG_RULES
from infra.planner import ACCOUNT_ID, plan_environments


def test_a_multi_region_trail_validates_encrypts_and_delivers_to_s3_and_cloudwatch(
    plans: dict[str, Any],
) -> None:
    for plan in plans.values():
        trail = one(plan, "aws:cloudtrail/trail:Trail")["inputs"]
        assert trail["isMultiRegionTrail"] is True and trail["includeGlobalServiceEvents"] is True
        assert trail["enableLogFileValidation"] is True
        assert trail["kmsKeyId"] == key_arn_of(plan, "trail")
        assert trail["cloudWatchLogsGroupArn"].endswith(":*") and trail["cloudWatchLogsRoleArn"]
        bucket = next(
            b for b in of_type(plan, "aws:s3/bucket:Bucket") if "-cloudtrail-" in b["inputs"]["bucket"]
        )
        assert bucket["urn"] in one(plan, "aws:cloudtrail/trail:Trail")["dependencies"]


def test_only_cloudtrail_and_config_write_to_the_trail_bucket_over_tls(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    policy = next(
        p
        for p in of_type(plan, "aws:s3/bucketPolicy:BucketPolicy")
        if p["name"].endswith("trail-bucket-policy")
    )
    statements = {s["Sid"]: s for s in json.loads(policy["inputs"]["policy"])["Statement"]}
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny"
    write = statements["CloudTrailWrite"]
    assert write["Condition"]["StringEquals"]["aws:SourceArn"] == (
        f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT_ID}:trail/wallet-prod-trail"
    )
    assert statements["ConfigWrite"]["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT_ID
    key = next(k for k in of_type(plan, "aws:kms/key:Key") if k["name"].endswith("-kms-trail"))
    sids = {s["Sid"] for s in json.loads(key["inputs"]["policy"])["Statement"]}
    assert {
        "CloudTrailEncryptsThisTrailsLogs",
        "CloudTrailDescribesTheKey",
        "ConfigDeliversToTheTrailBucket",
    } <= sids


def test_the_trail_bucket_logs_its_access_to_the_access_log_bucket(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    buckets = {b["inputs"]["bucket"].split("-")[2]: b for b in of_type(plan, "aws:s3/bucket:Bucket")}
    trail, access_logs = buckets["cloudtrail"], buckets["s3"]
    [logging] = [
        r for r in of_type(plan, "aws:s3/bucketLogging:BucketLogging") if trail["urn"] in r["dependencies"]
    ]
    assert logging["inputs"]["targetBucket"] == access_logs["id"]
    assert logging["inputs"]["targetPrefix"] == "cloudtrail/"


def test_guardduty_protects_eks_and_rds(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    assert one(plan, "aws:guardduty/detector:Detector")["inputs"]["enable"] is True
    features = {
        f["inputs"]["name"]: f["inputs"]
        for f in of_type(plan, "aws:guardduty/detectorFeature:DetectorFeature")
    }
    assert {"EKS_AUDIT_LOGS", "RDS_LOGIN_EVENTS", "RUNTIME_MONITORING"} <= set(features)
    assert all(f["status"] == "ENABLED" for f in features.values())
    extras = {c["name"] for c in features["RUNTIME_MONITORING"]["additionalConfigurations"]}
    assert "EKS_ADDON_MANAGEMENT" in extras
    assert "EKS_RUNTIME_MONITORING" not in features, "it cannot be combined with RUNTIME_MONITORING"


def test_config_records_everything_and_evaluates_the_platform_rules(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    recorder = one(plan, "aws:cfg/recorder:Recorder")
    assert recorder["inputs"]["recordingGroup"] == {"allSupported": True, "includeGlobalResourceTypes": True}
    status = one(plan, "aws:cfg/recorderStatus:RecorderStatus")
    assert status["inputs"]["isEnabled"] is True
    assert one(plan, "aws:cfg/deliveryChannel:DeliveryChannel")["urn"] in status["dependencies"]
    rules = of_type(plan, "aws:cfg/rule:Rule")
    assert {r["inputs"]["source"]["sourceIdentifier"] for r in rules} == set(CONFIG_RULES)
    assert all(status["urn"] in r["dependencies"] for r in rules), "rules need a running recorder"
    role = next(
        r for r in of_type(plan, "aws:iam/serviceLinkedRole:ServiceLinkedRole") if "config" in r["name"]
    )
    assert role["urn"] in recorder["dependencies"]


def test_security_hub_runs_fsbp_cis_3_and_pci_dss_4(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    hub = one(plan, "aws:securityhub/account:Account")
    assert hub["inputs"]["enableDefaultStandards"] is False
    arns = {
        s["inputs"]["standardsArn"]
        for s in of_type(plan, "aws:securityhub/standardsSubscription:StandardsSubscription")
    }
    assert arns == {
        "arn:aws:securityhub:eu-west-1::standards/aws-foundational-security-best-practices/v/1.0.0",
        "arn:aws:securityhub:eu-west-1::standards/cis-aws-foundations-benchmark/v/3.0.0",
        "arn:aws:securityhub:eu-west-1::standards/pci-dss/v/4.0.1",
    }
    for subscription in of_type(plan, "aws:securityhub/standardsSubscription:StandardsSubscription"):
        assert hub["urn"] in subscription["dependencies"]


def test_access_analyzer_watches_the_account(plans: dict[str, Any]) -> None:
    assert one(plans["qa"], "aws:accessanalyzer/analyzer:Analyzer")["inputs"]["type"] == "ACCOUNT"


def test_a_stack_that_does_not_own_the_account_creates_no_baseline(project_copy: Callable[[], Path]) -> None:
    project = project_copy()
    path = project / "Pulumi.qa.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["walletops:account"]["baseline"] = False
    path.write_text(yaml.safe_dump(document))
    plan = plan_environments([load_environment("qa", project)], project)["qa"].to_document()
    types = {r["type"] for r in plan["resources"]}
    assert not types & {
        "aws:cloudtrail/trail:Trail",
        "aws:guardduty/detector:Detector",
        "aws:cfg/recorder:Recorder",
    }
