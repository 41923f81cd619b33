"""IAM: the CI deploy role (GitHub OIDC only), cluster and node roles, and per-workload roles.

No user, no access key, no password: people and pipelines assume roles. The CI role trusts only
GitHub's OIDC tokens for this repository *and* this environment (``sub`` pinned with
StringEquals), and its permissions name services, never ``*`` on ``*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent, policy_json

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_THUMBPRINT = "6938fd4d98bab03faadb97b34396831e3780aea1"
DEPLOY_SERVICES: tuple[str, ...] = (
    "ec2",
    "eks",
    "ecs",
    "rds",
    "elasticache",
    "kms",
    "logs",
    "secretsmanager",
    "apigateway",
    "wafv2",
    "elasticloadbalancing",
    "application-autoscaling",
    "budgets",
    "sns",
    "s3",
    "ssm",
)
MANAGED = "arn:aws:iam::aws:policy/"


def service_trust(*services: str) -> str:
    """Trust policy letting the named AWS service principals assume a role."""
    return policy_json(
        [{"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}]
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
    """Account-level roles of one environment: CI deploy, EKS cluster and EKS nodes."""

    component = "iam"

    def __init__(
        self, name: str, args: IamArgs, env: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("iam:Iam", name, env, opts)
        self.github_oidc = aws.iam.OpenIdConnectProvider(
            self.name("github-oidc"),
            url=f"https://{GITHUB_OIDC_HOST}",
            client_id_lists=["sts.amazonaws.com"],
            thumbprint_lists=[GITHUB_OIDC_THUMBPRINT],
            tags=self.tags(service="ci"),
            opts=self.child_opts(),
        )
        self.deploy_role = aws.iam.Role(
            self.name("ci-deploy"),
            name=self.name("ci-deploy"),
            description=f"GitHub Actions deploys {env.name} from {env.ci.github_repository} only",
            assume_role_policy=self.github_oidc.arn.apply(
                lambda arn: github_deploy_trust(arn, env.ci.github_repository, env.ci.github_environment)
            ),
            max_session_duration=3600,
            tags=self.tags(service="ci"),
            opts=self.child_opts(),
        )
        aws.iam.RolePolicy(
            self.name("ci-deploy-permissions"),
            role=self.deploy_role.id,
            policy=pulumi.Output.from_input(args.account_id).apply(self._deploy_policy),
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

    def _deploy_policy(self, account: str) -> str:
        statements: list[dict[str, Any]] = [
            {
                "Sid": "ManagePlatformServices",
                "Effect": "Allow",
                "Action": [f"{service}:*" for service in DEPLOY_SERVICES],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": self.env.region}},
            },
            {
                "Sid": "ManageRolesOfThisEnvironmentOnly",
                "Effect": "Allow",
                "Action": [
                    "iam:Get*",
                    "iam:List*",
                    "iam:CreateRole",
                    "iam:DeleteRole",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:UpdateRole*",
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                    "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:PassRole",
                    "iam:CreateOpenIDConnectProvider",
                    "iam:UpdateOpenIDConnectProviderThumbprint",
                    "iam:TagOpenIDConnectProvider",
                    "iam:DeleteOpenIDConnectProvider",
                ],
                "Resource": [
                    f"arn:aws:iam::{account}:role/{self.prefix}-*",
                    f"arn:aws:iam::{account}:oidc-provider/*",
                ],
            },
            {
                "Sid": "CreateServiceLinkedRoles",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": f"arn:aws:iam::{account}:role/aws-service-role/*",
            },
        ]
        return policy_json(statements)
