"""EKS: private API in stage/prod, envelope-encrypted secrets, control-plane logs, supported versions;
cluster access ordered, NetworkPolicies enforced, HPAs fed, SPOT capacity tainted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

from infra.policy.model import (
    Context,
    NotApplicable,
    Resource,
    Severity,
    Violation,
    as_list,
    is_object,
    prop,
    resource_rule,
    stack_rule,
)
from infra.policy.rules.network import LAUNCH_TEMPLATE, SUBNET, is_public_subnet

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
PRIVATE_API_ENVS = ("stage", "prod")
REQUIRED_LOGS = ("api", "audit", "authenticator")
ALL_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")

# Amazon EKS release calendar: (end of standard support, end of extended support). Standard support
# lasts 14 months from the EKS release and extended support 12 more; update this table with each release.
EKS_SUPPORT: dict[str, tuple[date, date]] = {
    "1.29": (date(2025, 3, 23), date(2026, 3, 23)),
    "1.30": (date(2025, 7, 23), date(2026, 7, 23)),
    "1.31": (date(2025, 11, 26), date(2026, 11, 26)),
    "1.32": (date(2026, 3, 23), date(2027, 3, 23)),
    "1.33": (date(2026, 7, 29), date(2027, 7, 29)),
    "1.34": (date(2026, 12, 2), date(2027, 12, 2)),
    "1.35": (date(2027, 3, 27), date(2028, 3, 27)),
}


@resource_rule(
    "WO-EKS-001",
    "EKS API endpoint is private in stage and prod",
    severity=Severity.mandatory,
    controls=("FSBP EKS.1", "PCI 1.4.1", "PCI 1.3.1"),
    remediation="Set vpc_config.endpoint_public_access=False and endpoint_private_access=True "
    "(kubernetes.endpoint_public_access: false in Pulumi.<env>.yaml).",
    types=(CLUSTER,),
)
def eks_private_endpoint(resource: Resource, ctx: Context) -> str | None:
    if ctx.env not in PRIVATE_API_ENVS:
        raise NotApplicable(f"public endpoint allowed in {ctx.env}")
    problems = []
    if prop(resource, "vpcConfig.endpointPublicAccess", True) is not False:
        problems.append("endpointPublicAccess is not false")
    if prop(resource, "vpcConfig.endpointPrivateAccess") is not True:
        problems.append("endpointPrivateAccess is not true")
    return "; ".join(problems) or None


@resource_rule(
    "WO-EKS-002",
    "A public EKS endpoint is limited to listed ranges, never 0.0.0.0/0",
    severity=Severity.mandatory,
    controls=("FSBP EKS.1", "PCI 1.3.1"),
    remediation="List the office/VPN ranges in kubernetes.public_access_cidrs, or make the endpoint private.",
    types=(CLUSTER,),
)
def eks_public_cidrs(resource: Resource, ctx: Context) -> str | None:
    if prop(resource, "vpcConfig.endpointPublicAccess", True) is False:
        return None
    cidrs = as_list(prop(resource, "vpcConfig.publicAccessCidrs"))
    if not cidrs or "0.0.0.0/0" in cidrs:
        return "public endpoint open to 0.0.0.0/0"
    return None


@resource_rule(
    "WO-EKS-003",
    "EKS secrets are envelope-encrypted with a customer KMS key",
    severity=Severity.mandatory,
    controls=("FSBP EKS.3", "PCI 3.5.1", "PCI 3.6.1"),
    remediation="Set encryption_config.provider.key_arn to the secrets CMK with resources=['secrets'].",
    types=(CLUSTER,),
)
def eks_secrets_encryption(resource: Resource, ctx: Context) -> str | None:
    if not prop(resource, "encryptionConfig.provider.keyArn"):
        return "no encryptionConfig.provider.keyArn"
    if "secrets" not in as_list(prop(resource, "encryptionConfig.resources")):
        return "encryptionConfig.resources does not include 'secrets'"
    return None


@resource_rule(
    "WO-EKS-004",
    "EKS control-plane api, audit and authenticator logs are enabled",
    severity=Severity.mandatory,
    controls=("FSBP EKS.8", "PCI 10.2.1", "PCI 10.2.2"),
    remediation="Set enabled_cluster_log_types to include api, audit and authenticator.",
    types=(CLUSTER,),
)
def eks_required_logs(resource: Resource, ctx: Context) -> str | None:
    enabled = set(as_list(prop(resource, "enabledClusterLogTypes")))
    missing = [kind for kind in REQUIRED_LOGS if kind not in enabled]
    return f"control-plane logs missing: {', '.join(missing)}" if missing else None


@resource_rule(
    "WO-EKS-005",
    "EKS sends all five control-plane log types",
    severity=Severity.advisory,
    controls=("FSBP EKS.8", "PCI 10.2.1"),
    remediation="Add controllerManager and scheduler to enabled_cluster_log_types.",
    types=(CLUSTER,),
)
def eks_all_logs(resource: Resource, ctx: Context) -> str | None:
    enabled = set(as_list(prop(resource, "enabledClusterLogTypes")))
    missing = [kind for kind in ALL_LOGS if kind not in enabled]
    return f"control-plane logs missing: {', '.join(missing)}" if missing else None


@resource_rule(
    "WO-EKS-006",
    "EKS runs a supported Kubernetes version under the STANDARD upgrade policy",
    severity=Severity.mandatory,
    controls=("FSBP EKS.2", "PCI 6.3.3"),
    remediation="Set kubernetes.version to a release still supported by EKS and upgrade_policy.support_type "
    "to STANDARD (no paid extended support, upgrades are not postponed indefinitely).",
    types=(CLUSTER,),
)
def eks_supported_version(resource: Resource, ctx: Context) -> str | None:
    version = str(prop(resource, "version", ""))
    problems = []
    support = EKS_SUPPORT.get(version)
    if support is None:
        if not _newer_than_calendar(version):
            problems.append(f"version {version or '(unset)'} is not a known EKS release")
    elif ctx.today > support[1]:
        problems.append(f"version {version} left extended support on {support[1]}")
    if prop(resource, "upgradePolicy.supportType") != "STANDARD":
        problems.append(f"upgradePolicy.supportType is {prop(resource, 'upgradePolicy.supportType')!r}")
    return "; ".join(problems) or None


def _newer_than_calendar(version: str) -> bool:
    """A version newer than the calendar's last entry is accepted (released after this table was made)."""
    major, _, minor = version.partition(".")
    if major != "1" or not minor.isdigit():
        return False
    return int(minor) > max(int(known.split(".")[1]) for known in EKS_SUPPORT)


@resource_rule(
    "WO-EKS-007",
    "EKS version is within standard support (no extended-support surcharge or forced upgrade)",
    severity=Severity.advisory,
    controls=("FSBP EKS.2", "PCI 6.3.3"),
    remediation="Upgrade kubernetes.version before its end of standard support.",
    types=(CLUSTER,),
)
def eks_standard_support(resource: Resource, ctx: Context) -> str | None:
    version = str(prop(resource, "version", ""))
    support = EKS_SUPPORT.get(version)
    if support is not None and ctx.today > support[0]:
        return (
            f"version {version} left standard support on {support[0]} (extended support until {support[1]})"
        )
    return None


@resource_rule(
    "WO-EKS-008",
    "EKS node groups run in private subnets from a launch template",
    severity=Severity.mandatory,
    controls=("PCI 1.4.4", "FSBP EC2.9"),
    remediation="Give the node group only private-app subnets and a launch template enforcing IMDSv2.",
    types=(NODE_GROUP,),
    graph=True,
)
def node_group_placement(resource: Resource, ctx: Context) -> str | None:
    problems = []
    subnets = ctx.referenced_by(resource, SUBNET)
    public = [subnet["name"] for subnet in subnets if is_public_subnet(subnet)]
    if public:
        problems.append(f"runs in public subnets {', '.join(public)}")
    if not subnets:
        problems.append("subnets are not subnets of this stack")
    if not prop(resource, "launchTemplate") or not ctx.referenced_by(resource, LAUNCH_TEMPLATE):
        problems.append("no launch template of this stack")
    return "; ".join(problems) or None


ADDON = "aws:eks/addon:Addon"
ACCESS_ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
K8S_PROVIDER = "pulumi:providers:kubernetes"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SPOT_TAINT = "walletops.io/capacity"


def _addons(ctx: Context) -> dict[str, Resource]:
    return {str(prop(addon, "addonName")): addon for addon in ctx.of_type(ADDON)}


@stack_rule(
    "WO-EKS-009",
    "The Kubernetes provider waits for every cluster access policy association",
    severity=Severity.mandatory,
    controls=("PCI 7.2.1", "PCI 7.2.2"),
    remediation="Give the Kubernetes provider depends_on=[every AccessPolicyAssociation]: an access entry "
    "alone grants nothing, so resources created before the association are refused (Unauthorized).",
)
def provider_waits_for_access(ctx: Context) -> Iterator[Violation]:
    associations = ctx.of_type(ACCESS_ASSOCIATION)
    providers = ctx.of_type(K8S_PROVIDER)
    if not providers:
        raise NotApplicable("no Kubernetes provider in this stack")
    if not associations:
        yield Violation("no access policy association: nobody is authorised in the cluster")
    for provider in providers:
        missing = [a["name"] for a in associations if a["urn"] not in provider.get("dependencies", ())]
        if missing:
            yield Violation(f"{provider['name']} does not wait for {', '.join(missing)}", provider["urn"])


@stack_rule(
    "WO-EKS-010",
    "NetworkPolicies are enforced: the VPC CNI runs its network-policy agent",
    severity=Severity.mandatory,
    controls=("PCI 1.3.1", "PCI 1.4.1", "FSBP EKS.8"),
    remediation='Install the vpc-cni add-on with configuration_values {"enableNetworkPolicy": "true"}.',
)
def network_policies_enforced(ctx: Context) -> Iterator[Violation]:
    if not ctx.of_type(NETWORK_POLICY) or not ctx.of_type(CLUSTER):
        raise NotApplicable("no NetworkPolicy on an EKS cluster in this stack")
    cni = _addons(ctx).get("vpc-cni")
    if cni is None:
        yield Violation("no managed vpc-cni add-on: NetworkPolicies are accepted and never enforced")
        return
    try:
        values = json.loads(str(prop(cni, "configurationValues") or "{}"))
    except ValueError:
        values = {}
    if str(values.get("enableNetworkPolicy", "false")).lower() != "true":
        yield Violation(
            "vpc-cni has no enableNetworkPolicy=true: NetworkPolicies are not enforced", cni["urn"]
        )


@stack_rule(
    "WO-EKS-011",
    "HPAs have a metrics source: the metrics-server add-on",
    severity=Severity.mandatory,
    controls=("PCI 12.10.1",),
    remediation="Install the metrics-server EKS add-on (version pinned in kubernetes.addons).",
)
def metrics_for_hpas(ctx: Context) -> Iterator[Violation]:
    if not ctx.of_type(HPA):
        raise NotApplicable("no HorizontalPodAutoscaler in this stack")
    if "metrics-server" not in _addons(ctx):
        yield Violation("HPAs without metrics-server never scale (their CPU metric is <unknown>)")


@resource_rule(
    "WO-EKS-012",
    "SPOT node groups are tainted so that only interruption-tolerant pods run there",
    severity=Severity.mandatory,
    controls=("PCI 12.10.1",),
    remediation=f"Add the taint {{key: {SPOT_TAINT}, value: spot, effect: NO_SCHEDULE}} to the group "
    "(node_groups[].taints) and tolerate it only in services with tolerate_spot.",
    types=(NODE_GROUP,),
)
def spot_groups_tainted(resource: Resource, ctx: Context) -> str | None:
    if prop(resource, "capacityType") != "SPOT":
        return None
    taints = as_list(prop(resource, "taints"))
    if any(is_object(t) and t.get("key") == SPOT_TAINT and t.get("effect") == "NO_SCHEDULE" for t in taints):
        return None
    return f"SPOT group without the {SPOT_TAINT} NO_SCHEDULE taint: any pod, the ledger's too, may land there"


DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@stack_rule(
    "WO-EKS-013",
    "Node groups scale with the pods: a Cluster Autoscaler discovers them",
    severity=Severity.mandatory,
    controls=("PCI 12.10.1",),
    remediation="Deploy the Cluster Autoscaler (infra.cluster_addons) with --node-group-auto-discovery on "
    "the cluster's tag; node groups' max_size bound it.",
)
def nodes_scale(ctx: Context) -> Iterator[Violation]:
    if not ctx.of_type(HPA) or not ctx.of_type(NODE_GROUP):
        raise NotApplicable("no HPA on EKS node groups in this stack")
    for deployment in ctx.of_type(DEPLOYMENT):
        for container in as_list(prop(deployment, "spec.template.spec.containers")):
            if is_object(container) and any(
                str(arg).startswith("--node-group-auto-discovery=")
                for arg in as_list(container.get("command"))
            ):
                return
    yield Violation("HPAs add pods but nothing adds nodes: pods beyond the groups' desired size stay Pending")


CODEBUILD_PROJECT = "aws:codebuild/project:Project"


@stack_rule(
    "WO-EKS-014",
    "A private cluster API has an in-VPC CI runner allowed to reach it",
    severity=Severity.mandatory,
    controls=("PCI 1.3.1", "PCI 6.5.1"),
    remediation="Set ci.runner: true (infra.ci_runner): a CodeBuild-hosted runner in the app subnets "
    "with an ingress rule on the cluster security group for 443 from its security group.",
)
def ci_path_to_private_api(ctx: Context) -> Iterator[Violation]:
    clusters = [c for c in ctx.of_type(CLUSTER) if prop(c, "vpcConfig.endpointPublicAccess") is False]
    if not clusters:
        raise NotApplicable("no private EKS API endpoint in this stack")
    runners = [p for p in ctx.of_type(CODEBUILD_PROJECT) if prop(p, "vpcConfig.subnets")]
    if not runners:
        yield Violation("the API is private and no CI runner runs in the VPC: deploys cannot reach it")
