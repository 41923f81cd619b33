"""IAM: least privilege (no ``*`` on ``*``), and trust policies pinned to exactly who may assume a role."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infra.policy.model import (
    Context,
    Resource,
    Severity,
    Violation,
    as_list,
    is_object,
    policy_document,
    prop,
    resource_rule,
    stack_rule,
    statements,
)
from infra.policy.rules.kms import wildcard_principal_statements

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY_TYPES = (
    "aws:iam/policy:Policy",
    ROLE_POLICY,
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
)
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
BROAD_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")


def full_admin_statements(policy: object) -> list[str]:
    """Sids of Allow statements with action ``*`` on resource ``*`` (whatever the condition)."""
    found = []
    for index, statement in enumerate(statements(policy_document(policy))):
        if statement.get("Effect") != "Allow":
            continue
        actions = as_list(statement.get("Action"))
        resources = as_list(statement.get("Resource"))
        if ("*" in actions or "*:*" in actions or "NotAction" in statement) and "*" in resources:
            found.append(str(statement.get("Sid", f"#{index}")))
    return found


@stack_rule(
    "WO-IAM-001",
    "No IAM policy allows action '*' on resource '*'",
    severity=Severity.mandatory,
    controls=("FSBP IAM.1", "CIS 1.16", "PCI 7.2.1", "PCI 7.2.2"),
    remediation="Name the service actions the role needs and scope Resource to ARNs of this environment.",
)
def no_full_admin(ctx: Context) -> Iterator[Violation]:
    for policy in ctx.of_type(*POLICY_TYPES):
        offending = full_admin_statements(prop(policy, "policy"))
        if offending:
            yield Violation(f"{policy['name']}: '*' on '*' in {', '.join(offending)}", policy["urn"])
    for role in ctx.of_type(ROLE):
        for inline in prop(role, "inlinePolicies", []) or []:
            offending = full_admin_statements(inline.get("policy"))
            if offending:
                yield Violation(f"{role['name']}: inline policy allows '*' on '*'", role["urn"])


@resource_rule(
    "WO-IAM-002",
    "No broad AWS-managed admin policy is attached",
    severity=Severity.mandatory,
    controls=("FSBP IAM.1", "CIS 1.16", "PCI 7.2.2"),
    remediation="Replace AdministratorAccess/PowerUserAccess/IAMFullAccess with a scoped customer policy.",
    types=ATTACHMENTS,
)
def no_admin_attachment(resource: Resource, ctx: Context) -> str | None:
    arn = str(prop(resource, "policyArn", ""))
    if arn.startswith("arn:aws:iam::aws:policy/") and arn.rsplit("/", 1)[-1] in BROAD_MANAGED_POLICIES:
        return f"attaches {arn}"
    return None


@resource_rule(
    "WO-IAM-003",
    "Role trust policies never allow an unconditioned wildcard principal",
    severity=Severity.mandatory,
    controls=("PCI 7.2.1", "PCI 8.2.2"),
    remediation="Name the trusted service, account or OIDC provider in Principal, with conditions.",
    types=(ROLE,),
)
def trust_no_wildcard(resource: Resource, ctx: Context) -> str | None:
    policy = prop(resource, "assumeRolePolicy")
    if policy_document(policy) is None:
        return "assumeRolePolicy is missing or not JSON"
    offending = list(wildcard_principal_statements(policy))
    return f"trust statements {', '.join(offending)} allow anyone" if offending else None


def _federated(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    return [str(p) for p in as_list(principal.get("Federated"))] if is_object(principal) else []


def _conditions(statement: Mapping[str, Any], operator: str) -> Mapping[str, Any]:
    value = statement.get("Condition", {}).get(operator, {})
    return value if is_object(value) else {}


@resource_rule(
    "WO-IAM-004",
    "GitHub OIDC trust is pinned to this repository and its deployment environment",
    severity=Severity.mandatory,
    controls=("PCI 7.2.1", "PCI 8.2.2", "PCI 6.5.3"),
    remediation="Use StringEquals on token.actions.githubusercontent.com:sub = "
    "'repo:<ci.github_repository>:environment:<ci.github_environment>' and :aud = 'sts.amazonaws.com'.",
    types=(ROLE,),
)
def github_oidc_trust(resource: Resource, ctx: Context) -> str | None:
    document = policy_document(prop(resource, "assumeRolePolicy"))
    problems = []
    for statement in statements(document):
        if statement.get("Effect") != "Allow" or not any(
            GITHUB_OIDC_HOST in p for p in _federated(statement)
        ):
            continue
        equals = _conditions(statement, "StringEquals")
        subjects = as_list(equals.get(f"{GITHUB_OIDC_HOST}:sub"))
        if _conditions(statement, "StringLike").get(f"{GITHUB_OIDC_HOST}:sub"):
            problems.append("sub is matched with StringLike (wildcards)")
        if not subjects:
            problems.append("no StringEquals condition on the token's sub")
        if ctx.config is not None:
            expected = (
                f"repo:{ctx.config.ci.github_repository}:environment:{ctx.config.ci.github_environment}"
            )
            problems.extend(f"sub {s!r} is not {expected!r}" for s in subjects if s != expected)
        else:
            problems.extend(
                f"sub {s!r} is not scoped to one repository environment"
                for s in subjects
                if "*" in str(s) or ":environment:" not in str(s)
            )
        if as_list(equals.get(f"{GITHUB_OIDC_HOST}:aud")) != ["sts.amazonaws.com"]:
            problems.append("aud is not pinned to sts.amazonaws.com")
    return "; ".join(problems) or None


@resource_rule(
    "WO-IAM-005",
    "EKS workload roles (IRSA) trust one service account",
    severity=Severity.mandatory,
    controls=("PCI 7.2.1", "PCI 7.2.5"),
    remediation="Use StringEquals on <issuer>:sub = 'system:serviceaccount:<namespace>:<name>' and "
    "<issuer>:aud = 'sts.amazonaws.com'.",
    types=(ROLE,),
)
def irsa_trust(resource: Resource, ctx: Context) -> str | None:
    document = policy_document(prop(resource, "assumeRolePolicy"))
    problems = []
    for statement in statements(document):
        providers = [p for p in _federated(statement) if "oidc.eks." in p or ":oidc-provider/oidc.eks" in p]
        if statement.get("Effect") != "Allow" or not providers:
            continue
        equals = _conditions(statement, "StringEquals")
        subjects = [str(v) for k, v in equals.items() if k.endswith(":sub") for v in as_list(v)]
        if not subjects or any("*" in s or not s.startswith("system:serviceaccount:") for s in subjects):
            problems.append("sub is not pinned to a service account with StringEquals")
        if not any(k.endswith(":aud") and as_list(v) == ["sts.amazonaws.com"] for k, v in equals.items()):
            problems.append("aud is not pinned to sts.amazonaws.com")
    return "; ".join(problems) or None


@resource_rule(
    "WO-IAM-006",
    "iam:PassRole is never granted on every role",
    severity=Severity.advisory,
    controls=("PCI 7.2.2",),
    remediation="Scope iam:PassRole to the ARNs of this environment's roles.",
    types=POLICY_TYPES,
    graph=True,
)
def pass_role_scoped(resource: Resource, ctx: Context) -> str | None:
    if resource["type"] == "aws:iam/policy:Policy" and prop(resource, "name") in _boundary_names(ctx):
        return None  # a boundary is a ceiling: it grants nothing by itself
    for statement in statements(policy_document(prop(resource, "policy"))):
        actions = as_list(statement.get("Action"))
        broad = statement.get("Effect") == "Allow" and "*" in as_list(statement.get("Resource"))
        if broad and any(a in ("iam:PassRole", "iam:*", "iam:Pass*") for a in actions):
            return "iam:PassRole allowed on '*'"
    return None


def _boundary_names(ctx: Context) -> set[str]:
    """Names of managed policies some role uses as its permissions boundary."""
    arns = {
        str(prop(role, "permissionsBoundary"))
        for role in ctx.of_type(ROLE)
        if prop(role, "permissionsBoundary")
    }
    return {arn.rsplit("/", 1)[-1] for arn in arns}


@resource_rule(
    "WO-IAM-007",
    "Every role carries the environment's permissions boundary",
    severity=Severity.mandatory,
    controls=("PCI 7.2.1", "PCI 7.2.2", "FSBP IAM.1"),
    remediation="Create the role with permissions_boundary=the deploy boundary (Iam.boundary_arn): the "
    "deploy role may only write roles that carry it, and no role can exceed it.",
    types=(ROLE,),
)
def role_boundary(resource: Resource, ctx: Context) -> str | None:
    if not prop(resource, "permissionsBoundary"):
        return "no permissionsBoundary: the deploy role could grant this role anything"
    return None


@resource_rule(
    "WO-IAM-008",
    "Permission policies name actions, never a whole service (service:*)",
    severity=Severity.mandatory,
    controls=("FSBP IAM.21", "PCI 7.2.1", "PCI 7.2.2"),
    remediation="List the verbs the principal needs (prefix wildcards such as ec2:Describe* at most); "
    "only a permissions boundary, which grants nothing, may name whole services.",
    types=POLICY_TYPES,
    graph=True,
)
def no_service_wildcards(resource: Resource, ctx: Context) -> str | None:
    if resource["type"] == "aws:iam/policy:Policy" and prop(resource, "name") in _boundary_names(ctx):
        return None
    wide = sorted(
        {
            str(action)
            for statement in statements(policy_document(prop(resource, "policy")))
            if statement.get("Effect") == "Allow"
            for action in as_list(statement.get("Action"))
            if str(action) == "*" or str(action).endswith(":*")
        }
    )
    return f"allows whole services: {', '.join(wide)}" if wide else None
