"""CI's network path to the private cluster: a CodeBuild-hosted GitHub Actions runner in the VPC.

Stage and prod keep their EKS API endpoint private, so a GitHub-hosted runner cannot reach it.
A CodeBuild project in the private app subnets acts as a self-hosted runner: its webhook starts a
build for every queued workflow job whose ``runs-on`` label is
``codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}``, and that build runs the
job inside the VPC. The job still assumes the CI deploy role through GitHub OIDC (the runner's
own role can only write its logs and attach to the VPC). The runner's security group may reach
the cluster API on 443 (an ingress rule on the EKS cluster security group) and HTTPS outside
(GitHub, AWS APIs, the Pulumi state backend).

GitHub access goes through an AWS CodeConnections connection, created here in PENDING state: an
administrator completes it once in the console (GitHub app installation). The first ``pulumi up``
of a new account is run by an administrator without the Kubernetes part (``--exclude`` the
Kubernetes provider with ``--exclude-dependents``); CI's first job on this runner creates the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent, policy_json

HTTPS = 443


@dataclass
class CiRunnerArgs:
    """Where the runner runs, what it may reach, and the keys of its logs and build output."""

    vpc_id: pulumi.Input[str]
    app_subnet_ids: list[pulumi.Output[str]]
    cluster_security_group_id: pulumi.Input[str] | None
    logs_key_arn: pulumi.Input[str]
    s3_key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    permissions_boundary_arn: pulumi.Input[str]


def runner_label(project: str) -> str:
    """The ``runs-on`` label of a workflow job that must run on this environment's in-VPC runner."""
    return f"codebuild-{project}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"


class CiRunner(WalletComponent):
    """CodeConnections connection, CodeBuild runner project + webhook, its role, log group and SG."""

    component = "ci"

    def __init__(
        self,
        name: str,
        args: CiRunnerArgs,
        env: EnvironmentConfig,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ci:CiRunner", name, env, opts)
        self.args = args
        self.project_name = self.name("deploy-runner")
        tags = self.tags(service="ci")
        self.connection = aws.codeconnections.Connection(
            self.name("github"),
            name=self.name("github")[:32],
            provider_type="GitHub",
            tags=tags,
            opts=self.child_opts(),
        )
        aws.codebuild.SourceCredential(
            self.name("github-credential"),
            auth_type="CODECONNECTIONS",
            server_type="GITHUB",
            token=self.connection.arn,
            opts=self.child_opts(),
        )
        self.security_group = aws.ec2.SecurityGroup(
            self.name("sg", "ci-runner"),
            vpc_id=args.vpc_id,
            description="CI runner: HTTPS to GitHub, AWS and the cluster API only",
            tags={**tags, "Name": self.name("sg", "ci-runner")},
            opts=self.child_opts(),
        )
        aws.vpc.SecurityGroupEgressRule(
            self.name("out", "ci-runner-https"),
            security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            cidr_ipv4="0.0.0.0/0",
            description="ci-runner-https",
            tags=tags,
            opts=self.child_opts(),
        )
        aws.vpc.SecurityGroupEgressRule(
            self.name("out", "ci-runner-dns"),
            security_group_id=self.security_group.id,
            ip_protocol="udp",
            from_port=53,
            to_port=53,
            cidr_ipv4=env.network.cidr,
            description="ci-runner-dns",
            tags=tags,
            opts=self.child_opts(),
        )
        if args.cluster_security_group_id is not None:
            aws.vpc.SecurityGroupIngressRule(
                self.name("in", "cluster-api-from-ci-runner"),
                security_group_id=args.cluster_security_group_id,
                ip_protocol="tcp",
                from_port=HTTPS,
                to_port=HTTPS,
                referenced_security_group_id=self.security_group.id,
                description="cluster-api-from-ci-runner",
                tags=tags,
                opts=self.child_opts(),
            )
        logs = aws.cloudwatch.LogGroup(
            self.name("ci-runner-logs"),
            name=f"/walletops/{env.name}/ci-runner",
            retention_in_days=env.logging.audit_retention_days,
            kms_key_id=args.logs_key_arn,
            tags={**tags, "log-class": "audit"},
            opts=self.child_opts(stateful=True),
        )
        role = self._role(logs)
        self.project = aws.codebuild.Project(
            self.project_name,
            name=self.project_name,
            description=f"Self-hosted GitHub Actions runner in the {env.name} VPC (private EKS endpoint)",
            service_role=role.arn,
            source=aws.codebuild.ProjectSourceArgs(
                type="GITHUB", location=f"https://github.com/{env.ci.github_repository}.git"
            ),
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                type="LINUX_CONTAINER",
                compute_type=env.ci.runner_compute_type,
                image=env.ci.runner_image,
                image_pull_credentials_type="CODEBUILD",
                privileged_mode=False,
            ),
            vpc_config=aws.codebuild.ProjectVpcConfigArgs(
                vpc_id=args.vpc_id, subnets=args.app_subnet_ids, security_group_ids=[self.security_group.id]
            ),
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(
                    status="ENABLED", group_name=logs.name
                ),
                s3_logs=aws.codebuild.ProjectLogsConfigS3LogsArgs(status="DISABLED"),
            ),
            encryption_key=args.s3_key_arn,
            build_timeout=60,
            concurrent_build_limit=4,
            tags=tags,
            opts=self.child_opts(),
        )
        aws.codebuild.Webhook(
            self.name("deploy-runner-webhook"),
            project_name=self.project.name,
            build_type="BUILD",
            filter_groups=[
                aws.codebuild.WebhookFilterGroupArgs(
                    filters=[
                        aws.codebuild.WebhookFilterGroupFilterArgs(
                            type="EVENT", pattern="WORKFLOW_JOB_QUEUED"
                        )
                    ]
                )
            ],
            opts=self.child_opts(),
        )
        self.register_outputs(
            {"runner_label": runner_label(self.project_name), "connection_arn": self.connection.arn}
        )

    def _role(self, logs: aws.cloudwatch.LogGroup) -> aws.iam.Role:
        """The runner's own role: its logs, its network interfaces in this VPC, the GitHub connection."""
        args, region = self.args, self.env.region
        role = aws.iam.Role(
            self.name("ci-runner"),
            name=self.name("ci-runner"),
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: policy_json(
                    [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "codebuild.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                        }
                    ]
                )
            ),
            permissions_boundary=args.permissions_boundary_arn,
            tags=self.tags(service="ci"),
            opts=self.child_opts(),
        )
        inputs = pulumi.Output.all(
            logs.arn, self.connection.arn, args.account_id, args.vpc_id, args.s3_key_arn
        )

        def document(values: list[str]) -> str:
            log_group, connection, account, vpc, key = values
            return policy_json(
                [
                    {
                        "Sid": "WriteOwnLogs",
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": f"{log_group}:*",
                    },
                    {
                        "Sid": "DescribeTheNetwork",
                        "Effect": "Allow",
                        "Action": [
                            "ec2:DescribeDhcpOptions",
                            "ec2:DescribeNetworkInterfaces",
                            "ec2:DescribeSecurityGroups",
                            "ec2:DescribeSubnets",
                            "ec2:DescribeVpcs",
                        ],
                        "Resource": "*",
                    },
                    {
                        "Sid": "AttachToThisVpcOnly",
                        "Effect": "Allow",
                        "Action": ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"],
                        "Resource": [
                            f"arn:aws:ec2:{region}:{account}:{kind}/*"
                            for kind in ("network-interface", "subnet", "security-group")
                        ],
                        "Condition": {"ArnEquals": {"ec2:Vpc": f"arn:aws:ec2:{region}:{account}:vpc/{vpc}"}},
                    },
                    {
                        "Sid": "NetworkInterfacePermissionForCodeBuild",
                        "Effect": "Allow",
                        "Action": "ec2:CreateNetworkInterfacePermission",
                        "Resource": f"arn:aws:ec2:{region}:{account}:network-interface/*",
                        "Condition": {
                            "StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"},
                            "ArnEquals": {"ec2:Vpc": f"arn:aws:ec2:{region}:{account}:vpc/{vpc}"},
                        },
                    },
                    {
                        "Sid": "UseTheGitHubConnection",
                        "Effect": "Allow",
                        "Action": ["codeconnections:UseConnection", "codeconnections:GetConnectionToken"],
                        "Resource": connection,
                    },
                    {
                        "Sid": "EncryptBuildOutput",
                        "Effect": "Allow",
                        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                        "Resource": key,
                    },
                ]
            )

        aws.iam.RolePolicy(
            self.name("ci-runner-permissions"),
            role=role.id,
            policy=inputs.apply(document),
            opts=self.child_opts(),
        )
        return role
