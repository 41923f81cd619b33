"""parliament over every policy document of the plan: IAM identity and trust policies, KMS key
policies, S3 bucket, SNS topic, SQS queue, Secrets Manager, ECR, OpenSearch and API Gateway policies.

Each document is checked against every issue parliament knows (its own and the community auditors:
privilege escalation, credentials exposure, permissions management): an issue parliament reports is
a failed check on that document, every other issue a passed one. The document's subject names the
resource and the property it came from (``wallet-prod-ci-deploy-permissions policy``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from contracts.plan_graph import PlanGraph
from infra.policy.scanners import Check

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports the deprecated pkg_resources
    import parliament
    from parliament import analyze_policy_string, enhance_finding

COMMUNITY_CONFIG = Path(parliament.__file__).with_name("community_auditors") / "config_override.yaml"
GUIDELINE = "https://github.com/duo-labs/parliament#issue-types"

POLICY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "aws:iam/role:Role": ("assumeRolePolicy", "inlinePolicies[].policy"),
    "aws:iam/rolePolicy:RolePolicy": ("policy",),
    "aws:iam/policy:Policy": ("policy",),
    "aws:iam/userPolicy:UserPolicy": ("policy",),
    "aws:iam/groupPolicy:GroupPolicy": ("policy",),
    "aws:kms/key:Key": ("policy",),
    "aws:kms/keyPolicy:KeyPolicy": ("policy",),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy",),
    "aws:sns/topicPolicy:TopicPolicy": ("policy",),
    "aws:sns/topic:Topic": ("policy",),
    "aws:sqs/queuePolicy:QueuePolicy": ("policy",),
    "aws:sqs/queue:Queue": ("policy",),
    "aws:secretsmanager/secretPolicy:SecretPolicy": ("policy",),
    "aws:secretsmanager/secret:Secret": ("policy",),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("policy",),
    "aws:opensearch/domainPolicy:DomainPolicy": ("accessPolicies",),
    "aws:opensearch/domain:Domain": ("accessPolicies",),
    "aws:apigateway/restApiPolicy:RestApiPolicy": ("policy",),
    "aws:apigateway/restApi:RestApi": ("policy",),
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": ("policyDocument",),
}
"""Where policy documents live, per resource type (``[]`` walks a list of objects)."""


@cache
def issue_types() -> tuple[str, ...]:
    """Every issue parliament can report, with the community auditors' issues registered."""
    parliament.override_config(str(COMMUNITY_CONFIG))
    return tuple(sorted(parliament.config))


def documents(inputs: Mapping[str, Any], path: str) -> Iterator[tuple[str, str]]:
    """(label, JSON text) of the policy documents at ``path`` of a resource's inputs."""
    head, _, rest = path.partition("[].")
    value = inputs.get(head)
    if rest:
        for index, item in enumerate(value if isinstance(value, list) else []):
            if isinstance(item, Mapping):
                for label, text in documents(item, rest):
                    yield f"{head}[{index}].{label}", text
        return
    if isinstance(value, Mapping):
        yield head, json.dumps(value)
    elif isinstance(value, str) and value.strip():
        yield head, value


def analyze(text: str) -> dict[str, str]:
    """Issue id → a one-line detail, for every issue parliament finds in one policy document."""
    issue_types()
    policy = analyze_policy_string(text, include_community_auditors=True)
    found: dict[str, str] = {}
    for finding in policy.findings:
        enhance_finding(finding)
        detail = finding.detail
        if not isinstance(detail, str):
            detail = json.dumps(detail, default=str)
        actions = (finding.location or {}).get("actions") if isinstance(finding.location, dict) else None
        if not detail and actions:  # the community auditors name the actions only in the location
            detail = ", ".join(sorted(actions))
        found.setdefault(finding.issue, f"{finding.title}: {detail}"[:300])
    return found


def scan(graph: PlanGraph) -> list[Check]:
    """Every policy document of every environment against every parliament issue."""
    checks: list[Check] = []
    issues = issue_types()
    for plan in graph:
        for resource in plan.resources:
            for path in POLICY_PROPERTIES.get(resource["type"], ()):
                for label, text in documents(resource.get("inputs", {}), path):
                    found = analyze(text)
                    for issue in issues:
                        checks.append(
                            Check(
                                scanner="parliament",
                                check_id=issue,
                                title=str(parliament.config[issue].get("title", issue)),
                                env=plan.name,
                                urn=resource["urn"],
                                subject=f"{resource['name']} {label}",
                                passed=issue not in found,
                                message=found.get(issue, ""),
                                guideline=GUIDELINE,
                            )
                        )
    return checks
