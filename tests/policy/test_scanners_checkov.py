"""checkov scanner: planted flaws in a plan and in a manifest come back with checkov's own ids.

These run the real checkov of the pinned tool environment (``.tools/checkov``, made by
``scripts/bootstrap``), offline; one checkov process per test module.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scanner_worlds import database, deployment, graph, resource

from contracts.errors import UsageProblem
from infra.policy.scanners import Check
from infra.policy.scanners.checkov import default_executable, scan

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/k1234567"


@pytest.fixture(scope="module")
def checks() -> list[Check]:
    key = resource(
        "aws:kms/key:Key", "db-key", {"enableKeyRotation": True}, id="k1234567", outputs={"arn": KEY_ARN}
    )
    encrypted = database(kmsKeyId=KEY_ARN)
    encrypted["dependencies"] = [key["urn"]]
    plain = database(storageEncrypted=False)
    plain["name"] = "plain"
    plain["urn"] = plain["urn"].replace("::ledger", "::plain")
    privileged = deployment(securityContext={"privileged": True})
    return scan(graph(key, encrypted, plain, privileged))


def _verdicts(checks: list[Check], check_id: str) -> dict[str, bool]:
    return {c.subject: c.passed for c in checks if c.check_id == check_id}


def test_an_unencrypted_database_fails_checkovs_own_check(checks: list[Check]) -> None:
    verdicts = _verdicts(checks, "CKV_AWS_16")
    assert verdicts == {"aws_db_instance.ledger": True, "aws_db_instance.plain": False}
    failed = next(c for c in checks if c.check_id == "CKV_AWS_16" and not c.passed)
    assert failed.urn is not None and failed.urn.endswith("::plain") and failed.env == "dev"


def test_the_key_reference_reaches_checkov_as_a_link(checks: list[Check]) -> None:
    assert _verdicts(checks, "CKV_AWS_16")["aws_db_instance.ledger"] is True
    key_checks = {c.subject for c in checks if c.subject == "aws_kms_key.db-key"}
    assert key_checks, "the key itself was exported and scanned"


def test_a_privileged_container_fails_checkovs_kubernetes_check(checks: list[Check]) -> None:
    [privileged] = [c for c in checks if c.check_id == "CKV_K8S_16"]
    assert not privileged.passed and privileged.subject == "Deployment wallet/app"
    assert privileged.urn is not None and privileged.urn.endswith("::app")


def test_a_missing_checkov_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem, match="scripts/bootstrap"):
        scan(graph(database()), executable=tmp_path / "checkov")
    assert default_executable().name == "checkov"


def test_a_checkov_config_in_the_working_folder_skips_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The review's .checkov.yaml skips checks for its own scan; the policy scan must not inherit them."""
    (tmp_path / ".checkov.yaml").write_text("skip-check:\n  - CKV_K8S_43\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    tagged = deployment(image="registry.example/app:1.0")
    [pinned] = [c for c in scan(graph(tagged)) if c.check_id == "CKV_K8S_43"]
    assert not pinned.passed and pinned.subject == "Deployment wallet/app"
