"""Every control a guardrail or audit check cites exists in the framework version it names."""

from __future__ import annotations

import pytest

from contracts.frameworks import control, frameworks, spelled, spelled_text, unknown_citations
from infra.audit.checks import CHECKS
from infra.policy.model import all_rules, rules_by_id


def test_frameworks_are_recorded_with_version_and_source() -> None:
    recorded = frameworks()
    assert set(recorded) == {"FSBP", "CIS", "PCI"}
    assert recorded["CIS"].version == "3.0.0"
    assert recorded["PCI"].version == "4.0"
    assert recorded["FSBP"].version == "v1.0.0"
    assert all(len(framework.ids) > 50 for framework in recorded.values())


def test_every_rule_cites_known_controls() -> None:
    cited = {rule.id: unknown_citations(list(rule.controls)) for rule in all_rules()}
    assert {rule_id: bad for rule_id, bad in cited.items() if bad} == {}


def test_every_audit_check_cites_known_controls() -> None:
    cited = {check.id: unknown_citations(list(check.controls)) for check in CHECKS}
    assert {check_id: bad for check_id, bad in cited.items() if bad} == {}


@pytest.mark.parametrize(
    ("rule_id", "wrong"),
    [
        ("WO-SM-001", "FSBP SecretsManager.3"),  # .3 is "remove unused secrets", not encryption
        ("WO-IAM-001", "FSBP IAM.21"),  # .21 is about customer-managed policies' wildcards on services
        ("WO-KMS-001", "PCI 3.6.4"),  # 3.6.4 does not exist in PCI DSS 4.0
    ],
)
def test_corrected_mappings_stay_corrected(rule_id: str, wrong: str) -> None:
    assert wrong not in rules_by_id()[rule_id].controls


def test_unknown_ids_and_prefixes_are_caught() -> None:
    assert unknown_citations(["FSBP EC2.7", "CIS 2.2.1", "PCI 3.5.1"]) == []
    assert unknown_citations(["FSBP EC2.9999", "NIST AC-2", "PCI 3.6.4", "CIS"]) == [
        "FSBP EC2.9999",
        "NIST AC-2",
        "PCI 3.6.4",
        "CIS",
    ]
    with pytest.raises(ValueError, match="FSBP, CIS, PCI"):
        control("SOC2 CC6.1")


def test_citations_are_spelled_out_with_name_and_version() -> None:
    assert spelled(["CIS 2.2.1"]) == [
        {"framework": "CIS Amazon Web Services Foundations Benchmark", "version": "3.0.0", "id": "2.2.1"}
    ]
    assert spelled_text(["PCI 3.5.1"]) == "PCI DSS 4.0: 3.5.1"
