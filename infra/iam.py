"""IAM: the CI deploy role (GitHub OIDC only), cluster and node roles, and per-workload roles.

No user, no access key, no password: people and pipelines assume roles. The CI role trusts only
GitHub's OIDC tokens for this repository *and* this environment (``sub`` pinned with
StringEquals); its permissions name verbs per service (never ``service:*``) on this environment's
resources, and a permissions boundary it cannot edit or remove stops it from escalating through
the roles it manages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent, policy_json

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
VERBS: dict[str, tuple[str, ...]] = {
    "ec2": (
        "Describe*",
        "Get*",
        "Create*",
        "Delete*",
        "Modify*",
        "Associate*",
        "Disassociate*",
        "Attach*",
        "Detach*",
        "Allocate*",
        "Release*",
        "Authorize*",
        "Revoke*",
        "Replace*",
        "EnableEbsEncryptionByDefault",
        "ResetEbsDefaultKmsKeyId",
    ),
    "eks": (
        "Describe*",
        "List*",
        "Create*",
        "Delete*",
        "Update*",
        "Associate*",
        "Disassociate*",
        "TagResource",
        "UntagResource",
    ),
    "ecs": (
        "Describe*",
        "List*",
        "Create*",
        "Delete*",
        "Update*",
        "Put*",
        "RegisterTaskDefinition",
        "DeregisterTaskDefinition",
        "TagResource",
        "UntagResource",
    ),
    "rds": (
        "Describe*",
        "List*",
        "Create*",
        "Delete*",
        "Modify*",
        "AddTagsToResource",
        "RemoveTagsFromResource",
    ),
    "elasticache": (
        "Describe*",
        "List*",
        "Create*",
        "Delete*",
        "Modify*",
        "AddTagsToResource",
        "RemoveTagsFromResource",
    ),
    "logs": (
        "Describe*",
        "List*",
        "CreateLogGroup",
        "DeleteLogGroup",
        "PutRetentionPolicy",
        "DeleteRetentionPolicy",
        "AssociateKmsKey",
        "DisassociateKmsKey",
        "TagResource",
        "UntagResource",
        "TagLogGroup",
        "PutResourcePolicy",
        "DeleteResourcePolicy",
        "CreateLogDelivery",
        "GetLogDelivery",
        "UpdateLogDelivery",
        "DeleteLogDelivery",
    ),
    "apigateway": ("GET", "POST", "PUT", "PATCH", "DELETE", "UpdateRestApiPolicy"),
    "wafv2": (
        "Get*",
        "List*",
        "Create*",
        "Delete*",
        "Update*",
        "AssociateWebACL",
        "DisassociateWebACL",
        "PutLoggingConfiguration",
        "DeleteLoggingConfiguration",
        "TagResource",
        "UntagResource",
    ),
    "elasticloadbalancing": (
        "Describe*",
        "Create*",
        "Delete*",
        "Modify*",
        "AddTags",
        "RemoveTags",
        "SetSecurityGroups",
        "SetSubnets",
        "RegisterTargets",
        "DeregisterTargets",
    ),
    "autoscaling": (
        "Describe*",
        "AttachLoadBalancerTargetGroups",
        "DetachLoadBalancerTargetGroups",
        "AttachTrafficSources",
        "DetachTrafficSources",
    ),
    "application-autoscaling": (
        "Describe*",
        "RegisterScalableTarget",
        "DeregisterScalableTarget",
        "PutScalingPolicy",
        "DeleteScalingPolicy",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "cloudtrail": (
        "CreateTrail",
        "DeleteTrail",
        "UpdateTrail",
        "StartLogging",
        "StopLogging",
        "GetTrail",
        "GetTrailStatus",
        "DescribeTrails",
        "GetEventSelectors",
        "PutEventSelectors",
        "GetInsightSelectors",
        "ListTags",
        "AddTags",
        "RemoveTags",
    ),
    "guardduty": (
        "CreateDetector",
        "DeleteDetector",
        "UpdateDetector",
        "GetDetector",
        "ListDetectors",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "config": (
        "PutConfigurationRecorder",
        "DeleteConfigurationRecorder",
        "DescribeConfigurationRecorders",
        "DescribeConfigurationRecorderStatus",
        "StartConfigurationRecorder",
        "StopConfigurationRecorder",
        "PutDeliveryChannel",
        "DeleteDeliveryChannel",
        "DescribeDeliveryChannels",
        "PutConfigRule",
        "DeleteConfigRule",
        "DescribeConfigRules",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "securityhub": (
        "EnableSecurityHub",
        "DisableSecurityHub",
        "DescribeHub",
        "UpdateSecurityHubConfiguration",
        "BatchEnableStandards",
        "BatchDisableStandards",
        "GetEnabledStandards",
        "DescribeStandards",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "access-analyzer": (
        "CreateAnalyzer",
        "DeleteAnalyzer",
        "GetAnalyzer",
        "ListAnalyzers",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "cognito-idp": (
        "CreateUserPool",
        "DeleteUserPool",
        "UpdateUserPool",
        "DescribeUserPool",
        "SetUserPoolMfaConfig",
        "GetUserPoolMfaConfig",
        "CreateUserPoolDomain",
        "DeleteUserPoolDomain",
        "DescribeUserPoolDomain",
        "CreateResourceServer",
        "DeleteResourceServer",
        "UpdateResourceServer",
        "DescribeResourceServer",
        "CreateUserPoolClient",
        "DeleteUserPoolClient",
        "UpdateUserPoolClient",
        "DescribeUserPoolClient",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "codebuild": (
        "CreateProject",
        "DeleteProject",
        "UpdateProject",
        "BatchGetProjects",
        "CreateWebhook",
        "DeleteWebhook",
        "UpdateWebhook",
        "ImportSourceCredentials",
        "DeleteSourceCredentials",
        "ListSourceCredentials",
    ),
    "codeconnections": (
        "CreateConnection",
        "DeleteConnection",
        "GetConnection",
        "ListConnections",
        "PassConnection",
        "UseConnection",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "cloudwatch": (
        "PutMetricAlarm",
        "DeleteAlarms",
        "DescribeAlarms",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
    "es": (
        "CreateDomain",
        "DeleteDomain",
        "DescribeDomain",
        "DescribeDomainConfig",
        "DescribeDomains",
        "UpdateDomainConfig",
        "ListDomainNames",
        "AddTags",
        "RemoveTags",
        "ListTags",
    ),
    "network-firewall": (
        "Describe*",
        "List*",
        "CreateFirewall",
        "DeleteFirewall",
        "UpdateFirewallDescription",
        "UpdateFirewallDeleteProtection",
        "UpdateSubnetChangeProtection",
        "UpdateFirewallPolicyChangeProtection",
        "AssociateFirewallPolicy",
        "AssociateSubnets",
        "DisassociateSubnets",
        "CreateFirewallPolicy",
        "UpdateFirewallPolicy",
        "DeleteFirewallPolicy",
        "CreateRuleGroup",
        "UpdateRuleGroup",
        "DeleteRuleGroup",
        "UpdateLoggingConfiguration",
        "TagResource",
        "UntagResource",
    ),
    "acm": (
        "Describe*",
        "List*",
        "RequestCertificate",
        "DeleteCertificate",
        "GetCertificate",
        "AddTagsToCertificate",
        "RemoveTagsFromCertificate",
        "UpdateCertificateOptions",
    ),
    "acm-pca": (
        "Describe*",
        "List*",
        "Get*",
        "CreateCertificateAuthority",
        "UpdateCertificateAuthority",
        "DeleteCertificateAuthority",
        "ImportCertificateAuthorityCertificate",
        "IssueCertificate",
        "TagCertificateAuthority",
        "UntagCertificateAuthority",
    ),
    "sns": (
        "CreateTopic",
        "DeleteTopic",
        "GetTopicAttributes",
        "SetTopicAttributes",
        "Subscribe",
        "Unsubscribe",
        "GetSubscriptionAttributes",
        "ListSubscriptionsByTopic",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    ),
}
"""What the deploy role may do per regional service: named verbs (prefix wildcards at most)."""
KMS_KEY_ACTIONS: tuple[str, ...] = (
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:EnableKeyRotation",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CreateGrant",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
)
SECRET_ACTIONS: tuple[str, ...] = (
    "secretsmanager:CreateSecret",
    "secretsmanager:DeleteSecret",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:TagResource",
    "secretsmanager:UntagResource",
)
BUCKET_ACTIONS: tuple[str, ...] = (
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:ListBucket",
    "s3:GetBucket*",
    "s3:PutBucket*",
    "s3:DeleteBucketPolicy",
    "s3:GetEncryptionConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:GetAccelerateConfiguration",
    "s3:GetReplicationConfiguration",
    "s3:PutReplicationConfiguration",
    "s3:GetAnalyticsConfiguration",
    "s3:GetInventoryConfiguration",
    "s3:GetMetricsConfiguration",
    "s3:GetIntelligentTieringConfiguration",
)
ZONE_ACTIONS: tuple[str, ...] = (
    "route53:DeleteHostedZone",
    "route53:GetHostedZone",
    "route53:UpdateHostedZoneComment",
    "route53:AssociateVPCWithHostedZone",
    "route53:DisassociateVPCFromHostedZone",
    "route53:ChangeResourceRecordSets",
    "route53:ListResourceRecordSets",
    "route53:GetChange",
)
"""Route 53 actions on existing zones (and their changes, and the VPCs associated with them): IAM
accepts resource ARNs for each, so they are not granted on ``*``. Zone ids are assigned at creation,
hence ``hostedzone/*``; only ``CreateHostedZone`` and ``ListHostedZones`` take no resource."""
ROLE_WRITE_ACTIONS: tuple[str, ...] = (
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:DeleteRolePolicy",
)
"""Role writes the deploy role may only make on roles that carry the deploy boundary (the actions
for which IAM evaluates ``iam:PermissionsBoundary``; ``iam:UpdateAssumeRolePolicy`` is not one:
conditioned on that key it would never be allowed, so it is scoped by the role name instead)."""
BOUNDARY_SERVICES: tuple[str, ...] = (
    *VERBS,
    "kms",
    "secretsmanager",
    "s3",
    "budgets",
    "rds-db",
    "ecr",
    "sts",
    "cloudwatch",
    "xray",
    "cloudtrail",
    "guardduty",
    "config",
    "securityhub",
    "access-analyzer",
    "codebuild",
    "codeconnections",
    "network-firewall",
    "acm",
    "acm-pca",
    "route53",
    "eks-auth",
)
"""The ceiling of every role this program creates (a boundary grants nothing by itself)."""
SERVICE_LINKED_ROLES: tuple[str, ...] = (
    "autoscaling.amazonaws.com",
    "eks.amazonaws.com",
    "eks-nodegroup.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "rds.amazonaws.com",
    "elasticache.amazonaws.com",
    "ecs.amazonaws.com",
    "config.amazonaws.com",
    "guardduty.amazonaws.com",
    "securityhub.amazonaws.com",
    "access-analyzer.amazonaws.com",
    "network-firewall.amazonaws.com",
    "opensearchservice.amazonaws.com",
)
"""AWS services whose service-linked roles a deploy may create (created once per account)."""
MANAGED = "arn:aws:iam::aws:policy/"


def service_trust(*services: str) -> str:
    """Trust policy letting the named AWS service principals assume a role."""
    return policy_json(
        [{"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}]
    )


def irsa_trust(
    provider: aws.iam.OpenIdConnectProvider, namespace: str, service_account: str
) -> pulumi.Output[str]:
    """Trust policy letting only the Kubernetes service account ``namespace/service_account`` of the
    cluster behind ``provider`` assume a role (IAM roles for service accounts, web identity)."""
    subject = f"system:serviceaccount:{namespace}:{service_account}"
    return pulumi.Output.all(provider.arn, provider.url).apply(
        lambda parts: policy_json(
            [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": parts[0]},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{parts[1].removeprefix('https://')}:sub": subject,
                            f"{parts[1].removeprefix('https://')}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ]
        )
    )


def github_deploy_trust(provider_arn: str, repository: str, environment: str) -> str:
    """Trust only GitHub Actions jobs of ``repository`` running in the GitHub ``environment``."""
    return policy_json(
        [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
                        f"{GITHUB_OIDC_HOST}:sub": f"repo:{repository}:environment:{environment}",
                    }
                },
            }
        ]
    )


@dataclass
class IamArgs:
    """``account_id`` scopes the deploy role's IAM permissions to roles of this environment."""

    account_id: pulumi.Input[str]


class Iam(WalletComponent):
    """Account-level roles of one environment: CI deploy (with its boundary), EKS cluster and nodes.

    Every role the program creates carries the deploy boundary (``boundary_arn``), which is what lets
    the deploy role manage them without being able to grant more than the boundary allows.
    """

    component = "iam"

    def __init__(
        self, name: str, args: IamArgs, env: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("iam:Iam", name, env, opts)
        account = pulumi.Output.from_input(args.account_id)
        deploy_name = self.name("ci-deploy")
        self.boundary = aws.iam.Policy(
            self.name("deploy-boundary"),
            name=self.name("deploy-boundary"),
            description=f"Permissions boundary of every {env.name} role; only administrators change it",
            policy=account.apply(
                lambda acct: self._boundary_policy(
                    acct,
                    deploy_role_arn=f"arn:aws:iam::{acct}:role/{deploy_name}",
                    github_oidc_arn=f"arn:aws:iam::{acct}:oidc-provider/{GITHUB_OIDC_HOST}",
                )
            ),
            tags=self.tags(service="ci"),
            opts=self.child_opts(),
        )
        self.boundary_arn: pulumi.Output[str] = self.boundary.arn
        self.github_oidc = aws.iam.OpenIdConnectProvider(
            self.name("github-oidc"),
            url=f"https://{GITHUB_OIDC_HOST}",
            client_id_lists=["sts.amazonaws.com"],
            thumbprint_lists=[env.ci.github_oidc_thumbprint],
            tags=self.tags(service="ci"),
            opts=self.child_opts(),
        )
        self.deploy_role = aws.iam.Role(
            self.name("ci-deploy"),
            name=deploy_name,
            description=f"GitHub Actions deploys {env.name} from {env.ci.github_repository} only",
            assume_role_policy=self.github_oidc.arn.apply(
                lambda arn: github_deploy_trust(arn, env.ci.github_repository, env.ci.github_environment)
            ),
            max_session_duration=3600,
            permissions_boundary=self.boundary_arn,
            tags=self.tags(service="ci"),
            opts=self.child_opts(),
        )
        aws.iam.RolePolicy(
            self.name("ci-deploy-permissions"),
            role=self.deploy_role.id,
            policy=pulumi.Output.all(account, self.boundary_arn).apply(
                lambda values: self._deploy_policy(values[0], values[1])
            ),
            opts=self.child_opts(),
        )
        self.cluster_role = self.service_role(
            "eks-cluster",
            ("eks.amazonaws.com",),
            ["AmazonEKSClusterPolicy", "AmazonEKSVPCResourceController"],
        )
        self.node_role = self.service_role(
            "eks-node",
            ("ec2.amazonaws.com",),
            ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"],
        )
        self.register_outputs(
            {
                "deploy_role_arn": self.deploy_role.arn,
                "boundary_arn": self.boundary_arn,
                "cluster_role_arn": self.cluster_role.arn,
                "node_role_arn": self.node_role.arn,
            }
        )

    def service_role(self, label: str, principals: tuple[str, ...], managed: list[str]) -> aws.iam.Role:
        """A role assumable by AWS service principals, with AWS-managed policies attached."""
        role = aws.iam.Role(
            self.name(label),
            name=self.name(label),
            assume_role_policy=service_trust(*principals),
            permissions_boundary=self.boundary_arn,
            tags=self.tags(),
            opts=self.child_opts(),
        )
        for policy in managed:
            aws.iam.RolePolicyAttachment(
                self.name(label, policy.lower().replace("_", "-")),
                role=role.name,
                policy_arn=f"{MANAGED}{policy}",
                opts=self.child_opts(),
            )
        return role

    def _deploy_policy(self, account: str, boundary_arn: str) -> str:
        """Least privilege for ``pulumi up`` of this environment: named verbs, resources of this env.

        Budgets and Route 53 are global APIs (their requests are made in us-east-1), so they sit outside
        the region condition; IAM role writes require the deploy boundary on the role written.
        """
        region, env = self.env.region, self.env.name
        # Keys are created in the stack's region and, for the audit replicas, in logging.replica_region.
        key_regions = [
            region,
            *([self.env.logging.replica_region] if self.env.logging.replica_region else []),
        ]
        statements: list[dict[str, Any]] = [
            {
                "Sid": "ManagePlatformServicesInRegion",
                "Effect": "Allow",
                "Action": sorted(f"{service}:{verb}" for service, verbs in VERBS.items() for verb in verbs),
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
            },
            {
                "Sid": "CreateKeys",
                "Effect": "Allow",
                "Action": ["kms:CreateKey", "kms:ListAliases", "kms:ListKeys"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": key_regions}},
            },
            {
                "Sid": "ManageKeysOfThisAccountAndRegion",
                "Effect": "Allow",
                "Action": list(KMS_KEY_ACTIONS),
                "Resource": [
                    arn
                    for key_region in key_regions
                    for arn in (
                        f"arn:aws:kms:{key_region}:{account}:key/*",
                        f"arn:aws:kms:{key_region}:{account}:alias/{self.prefix}-*",
                    )
                ],
            },
            {
                "Sid": "ManageSecretsOfThisEnvironment",
                "Effect": "Allow",
                "Action": list(SECRET_ACTIONS),
                "Resource": [
                    f"arn:aws:secretsmanager:{region}:{account}:secret:walletops/{env}/*",
                    f"arn:aws:secretsmanager:{region}:{account}:secret:rds!*",
                ],
            },
            {
                "Sid": "ManageBucketsOfThisEnvironment",
                "Effect": "Allow",
                "Action": list(BUCKET_ACTIONS),
                "Resource": f"arn:aws:s3:::{self.prefix}-*",
            },
            {
                "Sid": "CreatePrivateZones",
                "Effect": "Allow",
                "Action": ["route53:CreateHostedZone", "route53:ListHostedZones"],
                "Resource": "*",
            },
            {
                "Sid": "ManagePrivateZonesAndCertificateRecords",
                "Effect": "Allow",
                "Action": list(ZONE_ACTIONS),
                "Resource": [
                    "arn:aws:route53:::hostedzone/*",
                    "arn:aws:route53:::change/*",
                    f"arn:aws:ec2:{region}:{account}:vpc/*",
                ],
            },
            {
                # Route 53 tags a zone or a health check through one API; its IAM definition lists
                # both resource types (the program has no health checks).
                "Sid": "TagPrivateZones",
                "Effect": "Allow",
                "Action": ["route53:ChangeTagsForResource", "route53:ListTagsForResource"],
                "Resource": ["arn:aws:route53:::hostedzone/*", "arn:aws:route53:::healthcheck/*"],
            },
            {
                "Sid": "ManageBudgetsOfThisEnvironment",
                "Effect": "Allow",
                "Action": [
                    "budgets:ViewBudget",
                    "budgets:ModifyBudget",
                    "budgets:TagResource",
                    "budgets:UntagResource",
                    "budgets:ListTagsForResource",
                ],
                "Resource": f"arn:aws:budgets::{account}:budget/{self.prefix}-*",
            },
            {
                "Sid": "ReadIam",
                "Effect": "Allow",
                "Action": [
                    "iam:GetRole",
                    "iam:GetRolePolicy",
                    "iam:GetPolicy",
                    "iam:GetPolicyVersion",
                    "iam:GetOpenIDConnectProvider",
                    "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListRoleTags",
                    "iam:ListInstanceProfilesForRole",
                    "iam:ListPolicyVersions",
                ],
                "Resource": [
                    f"arn:aws:iam::{account}:role/*",
                    f"arn:aws:iam::{account}:policy/{self.prefix}-*",
                    f"arn:aws:iam::{account}:oidc-provider/*",
                ],
            },
            {
                "Sid": "WriteRolesThatCarryTheBoundary",
                "Effect": "Allow",
                "Action": list(ROLE_WRITE_ACTIONS),
                "Resource": f"arn:aws:iam::{account}:role/{self.prefix}-*",
                "Condition": {"ArnEquals": {"iam:PermissionsBoundary": boundary_arn}},
            },
            {
                "Sid": "ManageRolesOfThisEnvironment",
                "Effect": "Allow",
                "Action": [
                    "iam:DeleteRole",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:UpdateRole",
                    "iam:UpdateRoleDescription",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:PassRole",
                ],
                "Resource": f"arn:aws:iam::{account}:role/{self.prefix}-*",
            },
            {
                "Sid": "ManageClusterIssuers",
                "Effect": "Allow",
                "Action": [
                    "iam:CreateOpenIDConnectProvider",
                    "iam:UpdateOpenIDConnectProviderThumbprint",
                    "iam:TagOpenIDConnectProvider",
                    "iam:UntagOpenIDConnectProvider",
                    "iam:DeleteOpenIDConnectProvider",
                ],
                "Resource": f"arn:aws:iam::{account}:oidc-provider/oidc.eks.{region}.amazonaws.com/id/*",
            },
            {
                "Sid": "CreateServiceLinkedRoles",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": f"arn:aws:iam::{account}:role/aws-service-role/*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
            },
        ]
        return policy_json(statements)

    def _boundary_policy(self, account: str, deploy_role_arn: str, github_oidc_arn: str) -> str:
        """The ceiling of every role of this environment, and what no role may ever do.

        Denies: removing or replacing a boundary, editing the boundary policy, any write to the deploy
        role or its GitHub trust, creating users/keys, and creating or changing a role without this
        boundary. Only an administrator changes the deploy role, its policy and this boundary.
        """
        boundary_arn = f"arn:aws:iam::{account}:policy/{self.prefix}-deploy-boundary"
        statements: list[dict[str, Any]] = [
            {
                "Sid": "Ceiling",
                "Effect": "Allow",
                "Action": [f"{service}:*" for service in sorted(set(BOUNDARY_SERVICES))]
                + [
                    "iam:Get*",
                    "iam:List*",
                    "iam:DeleteRole",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:UpdateRole",
                    "iam:UpdateRoleDescription",
                    "iam:PassRole",
                    *ROLE_WRITE_ACTIONS,
                    "iam:UpdateAssumeRolePolicy",
                    "iam:CreateOpenIDConnectProvider",
                    "iam:UpdateOpenIDConnectProviderThumbprint",
                    "iam:TagOpenIDConnectProvider",
                    "iam:UntagOpenIDConnectProvider",
                    "iam:DeleteOpenIDConnectProvider",
                    "iam:CreateServiceLinkedRole",
                ],
                "Resource": "*",
            },
            {
                "Sid": "NeverRemoveOrEditTheBoundary",
                "Effect": "Deny",
                "Action": [
                    "iam:DeleteRolePermissionsBoundary",
                    "iam:PutRolePermissionsBoundary",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicy",
                    "iam:DeletePolicyVersion",
                    "iam:SetDefaultPolicyVersion",
                ],
                "Resource": [f"arn:aws:iam::{account}:role/*", boundary_arn],
            },
            {
                "Sid": "NeverChangeTheDeployRoleOrItsTrust",
                "Effect": "Deny",
                "Action": [
                    *ROLE_WRITE_ACTIONS,
                    "iam:UpdateAssumeRolePolicy",
                    "iam:DeleteRole",
                    "iam:UpdateRole",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:UpdateOpenIDConnectProviderThumbprint",
                    "iam:DeleteOpenIDConnectProvider",
                    "iam:AddClientIDToOpenIDConnectProvider",
                    "iam:RemoveClientIDFromOpenIDConnectProvider",
                ],
                "Resource": [deploy_role_arn, github_oidc_arn],
            },
            {
                "Sid": "NoRoleWithoutThisBoundary",
                "Effect": "Deny",
                "Action": list(ROLE_WRITE_ACTIONS),
                "Resource": "*",
                "Condition": {"ArnNotEquals": {"iam:PermissionsBoundary": boundary_arn}},
            },
            {
                "Sid": "NoLongLivedCredentials",
                "Effect": "Deny",
                "Action": [
                    "iam:CreateUser",
                    "iam:CreateAccessKey",
                    "iam:CreateLoginProfile",
                    "iam:UpdateLoginProfile",
                    "iam:AttachUserPolicy",
                    "iam:PutUserPolicy",
                    "iam:AddUserToGroup",
                ],
                "Resource": "*",
            },
        ]
        return policy_json(statements)
