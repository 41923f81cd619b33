"""Required tags: cost, ownership and data classification must be readable from every AWS resource."""

from __future__ import annotations

from contracts.config import STANDARD_TAG_KEYS, DataClassification
from infra.policy.model import Context, NotApplicable, Resource, Severity, resource_rule, tags_of

# AWS resources that must carry the standard tags even if the program forgot the ``tags`` argument.
MUST_BE_TAGGED = (
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/natGateway:NatGateway",
    "aws:kms/key:Key",
    "aws:iam/role:Role",
    "aws:eks/cluster:Cluster",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:rds/instance:Instance",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:s3/bucket:Bucket",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:secretsmanager/secret:Secret",
    "aws:apigateway/restApi:RestApi",
    "aws:apigateway/stage:Stage",
    "aws:wafv2/webAcl:WebAcl",
    "aws:lb/loadBalancer:LoadBalancer",
)
CLASSIFICATIONS = (*(c.value for c in DataClassification), "financial")


def _applies(resource: Resource) -> bool:
    return resource["type"].startswith("aws:") and (
        resource["type"] in MUST_BE_TAGGED or "tags" in resource.get("inputs", {})
    )


@resource_rule(
    "WO-TAG-001",
    "AWS resources carry the six standard tags",
    severity=Severity.mandatory,
    controls=("PCI 12.5.1", "PCI 9.4.2"),
    remediation="Pass tags=self.tags() (environment, service, component, owner, cost-center, "
    "data-classification) when creating the resource.",
    types=(),
)
def standard_tags(resource: Resource, ctx: Context) -> str | None:
    if not _applies(resource):
        raise NotApplicable("not a taggable AWS resource")
    missing = [key for key in STANDARD_TAG_KEYS if not tags_of(resource).get(key)]
    return f"missing tags: {', '.join(missing)}" if missing else None


@resource_rule(
    "WO-TAG-002",
    "Tags name this environment and a known data classification",
    severity=Severity.mandatory,
    controls=("PCI 12.5.1", "PCI 9.4.2"),
    remediation="Use the standard tags of this environment (contracts.config.standard_tags).",
    types=(),
)
def tag_values(resource: Resource, ctx: Context) -> str | None:
    tags = tags_of(resource)
    if not _applies(resource) or not tags:
        raise NotApplicable("no tags to check")
    problems = []
    if "environment" in tags and tags["environment"] != ctx.env:
        problems.append(f"environment tag is {tags['environment']!r} in the {ctx.env} stack")
    if "data-classification" in tags and tags["data-classification"] not in CLASSIFICATIONS:
        problems.append(
            f"data-classification {tags['data-classification']!r} not in {', '.join(CLASSIFICATIONS)}"
        )
    return "; ".join(problems) or None
