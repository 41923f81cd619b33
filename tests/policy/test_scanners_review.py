"""The review's policy check runs the third-party scanners with the project's waivers.

``walletops pipeline review`` hands the policy check in as a ready result (walletops/pipeline_wiring.py);
for this project it must fail on an unwaived scanner finding, as ``walletops policy --scanners`` does.
Runs the real checkov of ``.tools/checkov`` once.
"""

from __future__ import annotations

from pathlib import Path

from scanner_worlds import database, deployment, graph

from pipelines.results import Status
from walletops.pipeline_wiring import manifests_of, policy_check

ROOT = Path(__file__).resolve().parents[2]


def test_an_unencrypted_database_fails_the_review_with_checkovs_id() -> None:
    plan = graph(database(storageEncrypted=False), deployment(securityContext={"privileged": True}))
    check = policy_check(plan, ROOT, {})
    assert check.status is Status.failed
    rules = {finding.rule for finding in check.findings if finding.severity == "error"}
    assert {"checkov:CKV_AWS_16", "checkov:CKV_K8S_16"} <= rules
    [rds] = [f for f in check.findings if f.rule == "checkov:CKV_AWS_16"]
    assert rds.message.startswith("dev: aws_db_instance.") and rds.file == "Pulumi.dev.yaml"


def test_the_review_leaves_this_projects_manifests_to_the_policy_check() -> None:
    plan = graph(deployment())
    assert manifests_of(plan, ROOT) == {}
    assert list(manifests_of(plan, ROOT / "tests" / "pipelines" / "defects")) == ["dev"]
