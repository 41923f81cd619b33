"""Every registered rule passes the compliant world and bites on its own breakage (infra/policy/rules)."""

from __future__ import annotations

import json

import pytest
from policy_world import BREAKAGES, ENV, REPO, TODAY, compliant_world, doc, find, setp

from contracts.config import load_environment
from infra.policy.engine import evaluate_environment
from infra.policy.model import Context, Severity, all_rules
from infra.policy.rules.network import is_load_balancer_group

RULES = all_rules()


def test_registry_has_at_least_forty_rules_with_complete_metadata() -> None:
    assert len(RULES) >= 40
    assert len({rule.id for rule in RULES}) == len(RULES)
    for rule in RULES:
        assert rule.title and rule.remediation.endswith("."), rule.id
        assert rule.controls, rule.id
        assert all(c.split()[0] in ("FSBP", "CIS", "PCI") for c in rule.controls), rule.id
    areas = {rule.area for rule in RULES}
    assert {"KMS", "EBS", "EC2", "VPC", "EKS", "RDS", "ECC", "S3", "IAM", "LOG", "API", "K8S", "TAG"} <= areas


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.id)
def test_rule_passes_compliant_fixture(rule) -> None:
    [result] = evaluate_environment(ENV, compliant_world(), rules=[rule], today=TODAY)
    assert result.findings == []
    assert result.verdict == "passed", result.not_applicable_reason


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.id)
def test_rule_flags_its_failing_fixture(rule) -> None:
    world = compliant_world()
    BREAKAGES[rule.id](world)  # a rule without a failing fixture fails here (KeyError)
    [result] = evaluate_environment(ENV, world, rules=[rule], today=TODAY)
    assert result.verdict == "failed"
    assert all(f.severity is rule.severity and f.message for f in result.findings)


def test_every_breakage_belongs_to_a_registered_rule() -> None:
    assert set(BREAKAGES) == {rule.id for rule in RULES}


@pytest.mark.parametrize("rule_id", ["WO-RDS-004", "WO-RDS-005", "WO-EKS-001", "WO-OBS-006"])
def test_prod_and_stage_only_rules_are_not_applicable_in_dev(rule_id: str) -> None:
    rule = next(r for r in RULES if r.id == rule_id)
    world = compliant_world()
    BREAKAGES[rule_id](world)
    [result] = evaluate_environment("dev", world, rules=[rule], today=TODAY)
    assert result.verdict == "not-applicable"
    assert result.not_applicable_reason


def _rule(rule_id: str):
    return next(r for r in RULES if r.id == rule_id)


def test_open_https_is_allowed_only_on_a_load_balancer_group() -> None:
    world = compliant_world()
    assert evaluate_environment(ENV, world, rules=[_rule("WO-VPC-003")], today=TODAY)[0].verdict == "passed"
    find(world, "in-lb-https")["dependencies"] = [find(world, "wallet-prod-sg-app")["urn"]]
    [result] = evaluate_environment(ENV, world, rules=[_rule("WO-VPC-003")], today=TODAY)
    assert [f.name for f in result.findings] == ["in-lb-https"]
    ctx = Context(ENV, world, today=TODAY)
    assert is_load_balancer_group(find(world, "wallet-prod-sg-lb"), ctx)
    assert not is_load_balancer_group(find(world, "wallet-prod-sg-app"), ctx)
    find(world, "wallet-prod-nlb")["dependencies"] = []
    assert not is_load_balancer_group(find(world, "wallet-prod-sg-lb"), Context(ENV, world, today=TODAY))


def test_all_protocol_ingress_from_anywhere_opens_ssh_and_rdp() -> None:
    world = compliant_world()
    setp(world, "in-app-from-vpc", "cidrIpv4", "0.0.0.0/0")
    setp(world, "in-app-from-vpc", "ipProtocol", "-1")
    [result] = evaluate_environment(ENV, world, rules=[_rule("WO-VPC-004")], today=TODAY)
    assert sorted(f.message.split(": ")[1].split(" ")[0] for f in result.findings) == ["RDP", "SSH"]


def test_github_trust_is_compared_with_the_environment_config(project_dir) -> None:
    config = load_environment("prod", project_dir)
    assert config.ci.github_repository == REPO
    rule = _rule("WO-IAM-004")
    world = compliant_world()
    assert evaluate_environment(ENV, world, rules=[rule], today=TODAY, config=config)[0].verdict == "passed"
    trust = json.loads(find(world, "deploy")["inputs"]["assumeRolePolicy"])
    trust["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] = (
        f"repo:{REPO}:environment:dev"
    )
    setp(world, "deploy", "assumeRolePolicy", json.dumps(trust))
    [result] = evaluate_environment(ENV, world, rules=[rule], today=TODAY, config=config)
    assert result.verdict == "failed"
    assert "environment:prod" in result.findings[0].message


def test_conditioned_wildcard_principal_is_accepted_but_not_unconditioned() -> None:
    rule = _rule("WO-KMS-002")
    world = compliant_world()
    setp(
        world,
        "key-ebs",
        "policy",
        doc({"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "kms:Decrypt"}),
    )
    assert evaluate_environment(ENV, world, rules=[rule], today=TODAY)[0].verdict == "failed"
    setp(world, "key-ebs", "policy", "not json")
    assert (
        "not valid JSON" in evaluate_environment(ENV, world, rules=[rule], today=TODAY)[0].findings[0].message
    )


def test_eks_versions_leave_support_with_time() -> None:
    world = compliant_world()
    setp(world, "eks", "version", "1.31")
    [result] = evaluate_environment(ENV, world, rules=[_rule("WO-EKS-006")], today=TODAY.replace(day=27))
    assert "left extended support" in result.findings[0].message
    setp(world, "eks", "version", "1.40")
    assert evaluate_environment(ENV, world, rules=[_rule("WO-EKS-006")], today=TODAY)[0].verdict == "passed"
    setp(world, "eks", "version", "2.0")
    assert evaluate_environment(ENV, world, rules=[_rule("WO-EKS-006")], today=TODAY)[0].verdict == "failed"


def test_severity_split_keeps_most_rules_mandatory() -> None:
    mandatory = [r for r in RULES if r.severity is Severity.mandatory]
    assert len(mandatory) >= 40


def test_apm_certificate_from_another_issuer_or_namespace_is_not_the_platform_ca() -> None:
    rule = _rule("WO-OBS-006")
    self_signed = compliant_world()
    setp(
        self_signed, "apm-http-certificate", "spec.issuerRef", {"kind": "ClusterIssuer", "name": "selfsigned"}
    )
    [result] = evaluate_environment(ENV, self_signed, rules=[rule], today=TODAY)
    assert result.verdict == "failed"
    assert "not the platform's AWSPCAClusterIssuer" in result.findings[0].message
    elsewhere = compliant_world()
    setp(elsewhere, "apm-http-certificate", "metadata.namespace", "default")
    [result] = evaluate_environment(ENV, elsewhere, rules=[rule], today=TODAY)
    assert result.verdict == "failed"
    assert "no cert-manager Certificate" in result.findings[0].message
