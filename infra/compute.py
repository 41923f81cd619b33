"""Compute: an EKS cluster with managed node groups (default) or an ECS Fargate cluster.

EKS: private API endpoint (public only where config lists allowed CIDRs, never in stage/prod by
config), secrets envelope-encrypted with the secrets key, all control-plane logs to a KMS-encrypted
log group, STANDARD support, API access entries (no aws-auth ConfigMap) for the CI role and the
people's roles named in config, managed add-ons pinned in config (the VPC CNI enforcing
NetworkPolicies, metrics-server feeding the HPAs), nodes in private subnets from a launch template
with IMDSv2 required and encrypted gp3 volumes, the AMI matching the instance architecture, SPOT
groups tainted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from contracts.config import ACCESS_POLICIES, ComputeEngine, EnvironmentConfig, NodeGroupConfig
from infra.common import WalletComponent

CONTROL_PLANE_LOGS: list[str] = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
ACCESS_POLICY_ARN = "arn:aws:eks::aws:cluster-access-policy/{}"
ADDON_CONFIGURATION: dict[str, dict[str, object]] = {
    "vpc-cni": {"enableNetworkPolicy": "true"},
}
"""Add-on configuration values: the VPC CNI enforces NetworkPolicies (its network-policy agent)."""
BEFORE_NODES: tuple[str, ...] = ("vpc-cni", "eks-pod-identity-agent", "kube-proxy")
"""Add-ons that are DaemonSets: installed before the nodes join, so no pod starts without them."""


@dataclass
class ComputeArgs:
    """Where the cluster runs and which keys and roles it uses."""

    app_subnet_ids: list[pulumi.Output[str]]
    app_security_group_id: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    ebs_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    cluster_role: aws.iam.Role
    node_role: aws.iam.Role
    deploy_role_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]


class Compute(WalletComponent):
    """The EKS cluster (with its Kubernetes provider and IRSA issuer) or the ECS cluster."""

    component = "compute"

    def __init__(
        self, name: str, args: ComputeArgs, env: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("compute:Compute", name, env, opts)
        self.cluster_name = self.name("cluster")
        self.node_groups: list[aws.eks.NodeGroup] = []
        self.eks_cluster: aws.eks.Cluster | None = None
        self.oidc_provider: aws.iam.OpenIdConnectProvider | None = None
        self.k8s_provider: k8s.Provider | None = None
        self.ecs_cluster: aws.ecs.Cluster | None = None
        if env.compute_engine is ComputeEngine.eks:
            self._eks(args)
            assert self.eks_cluster is not None
            self.register_outputs(
                {"cluster_name": self.eks_cluster.name, "endpoint": self.eks_cluster.endpoint}
            )
        else:
            self._ecs(args)
            assert self.ecs_cluster is not None
            self.register_outputs(
                {"cluster_name": self.ecs_cluster.name, "cluster_arn": self.ecs_cluster.arn}
            )

    def _eks(self, args: ComputeArgs) -> None:
        env = self.env
        assert env.kubernetes is not None
        kube = env.kubernetes
        log_group = aws.cloudwatch.LogGroup(
            self.name("eks-control-plane"),
            name=f"/aws/eks/{self.cluster_name}/cluster",
            retention_in_days=env.logging.audit_retention_days,
            kms_key_id=args.logs_key_arn,
            tags={**self.tags(), "log-class": "audit"},
            opts=self.child_opts(stateful=True),
        )
        cluster = aws.eks.Cluster(
            self.cluster_name,
            name=self.cluster_name,
            version=kube.version,
            role_arn=args.cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.app_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=kube.endpoint_public_access,
                public_access_cidrs=kube.public_access_cidrs if kube.endpoint_public_access else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.secrets_key_arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=False
            ),
            tags=self.tags(),
            opts=self.child_opts(stateful=True, depends_on=[log_group]),
        )
        self.eks_cluster = cluster
        self.access_associations = self._access(cluster, args)
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            self.name("irsa-oidc"),
            url=cluster.identities[0].oidcs[0].issuer,
            client_id_lists=["sts.amazonaws.com"],
            thumbprint_lists=[kube.oidc_thumbprint],
            tags=self.tags(),
            opts=self.child_opts(),
        )
        cluster_sg = cluster.vpc_config.cluster_security_group_id
        daemon_addons = [self._addon(cluster, name, []) for name in BEFORE_NODES]
        for group in kube.node_groups:
            self.node_groups.append(self._node_group(group, cluster, args, cluster_sg, daemon_addons))
        self.addons = {
            **dict(zip(BEFORE_NODES, daemon_addons, strict=True)),
            **{
                name: self._addon(cluster, name, self.node_groups)
                for name in kube.addons
                if name not in BEFORE_NODES
            },
        }
        kubeconfig = pulumi.Output.all(
            cluster.name, cluster.endpoint, cluster.certificate_authority.data
        ).apply(lambda parts: _kubeconfig(parts[0], parts[1], parts[2], env.region))
        self.k8s_provider = k8s.Provider(
            self.name("k8s"),
            kubeconfig=kubeconfig,
            enable_server_side_apply=True,
            opts=self.child_opts(depends_on=self.access_associations),
        )

    def _access(self, cluster: aws.eks.Cluster, args: ComputeArgs) -> list[aws.eks.AccessPolicyAssociation]:
        """Access entries + policy associations: the CI role and each configured person's role.

        The creator gets no implicit access (it would depend on who runs the first ``up``); the
        Kubernetes provider waits for every association, since an entry alone grants nothing.
        """
        assert self.env.kubernetes is not None
        principals: list[tuple[str, pulumi.Input[str], str, list[str]]] = [
            ("ci-deploy", args.deploy_role_arn, "cluster-admin", [])
        ]
        for entry in self.env.kubernetes.access:
            label = entry.role.rsplit("/", 1)[-1].lower().replace("_", "-")[:40]
            arn = pulumi.Output.concat("arn:aws:iam::", args.account_id, f":role/{entry.role}")
            principals.append((label, arn, entry.access, list(entry.namespaces)))
        associations = []
        for label, principal, level, namespaces in principals:
            access_entry = aws.eks.AccessEntry(
                self.name("access", label),
                cluster_name=cluster.name,
                principal_arn=principal,
                type="STANDARD",
                tags=self.tags(service="ci" if label == "ci-deploy" else "platform"),
                opts=self.child_opts(),
            )
            associations.append(
                aws.eks.AccessPolicyAssociation(
                    self.name("access", label, level),
                    cluster_name=cluster.name,
                    principal_arn=access_entry.principal_arn,
                    policy_arn=ACCESS_POLICY_ARN.format(ACCESS_POLICIES[level]),
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(
                        type="namespace" if namespaces else "cluster", namespaces=namespaces or None
                    ),
                    opts=self.child_opts(depends_on=[access_entry]),
                )
            )
        return associations

    def _addon(self, cluster: aws.eks.Cluster, name: str, after: list[aws.eks.NodeGroup]) -> aws.eks.Addon:
        """One EKS managed add-on at the version pinned in config."""
        assert self.env.kubernetes is not None
        configuration = ADDON_CONFIGURATION.get(name)
        return aws.eks.Addon(
            self.name("addon", name),
            cluster_name=cluster.name,
            addon_name=name,
            addon_version=self.env.kubernetes.addons[name],
            configuration_values=json.dumps(configuration, sort_keys=True) if configuration else None,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=self.tags(),
            opts=self.child_opts(depends_on=after or None),
        )

    def _node_group(
        self,
        group: NodeGroupConfig,
        cluster: aws.eks.Cluster,
        args: ComputeArgs,
        cluster_sg: pulumi.Output[str],
        daemon_addons: list[aws.eks.Addon],
    ) -> aws.eks.NodeGroup:
        tags = self.tags(service=f"nodes-{group.name}")
        template = aws.ec2.LaunchTemplate(
            self.name("lt", group.name),
            description=f"EKS nodes {group.name}: IMDSv2 only, encrypted gp3 root volume",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=group.disk_gb,
                        volume_type="gp3",
                        iops=3000,
                        throughput=125,
                        encrypted="true",
                        kms_key_id=args.ebs_key_arn,
                        delete_on_termination="true",
                    ),
                )
            ],
            vpc_security_group_ids=[cluster_sg, args.app_security_group_id],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            tags=tags,
            opts=self.child_opts(),
        )
        return aws.eks.NodeGroup(
            self.name("ng", group.name),
            cluster_name=cluster.name,
            node_group_name=self.name("ng", group.name),
            node_role_arn=args.node_role.arn,
            subnet_ids=args.app_subnet_ids,
            ami_type=group.ami_type,
            instance_types=group.instance_types,
            capacity_type=group.capacity_type.value,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=group.min_size, desired_size=group.desired_size, max_size=group.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            labels={
                "walletops.io/node-group": group.name,
                "walletops.io/capacity": group.capacity_type.value.lower(),
            },
            taints=[
                aws.eks.NodeGroupTaintArgs(key=taint.key, value=taint.value or None, effect=taint.effect)
                for taint in group.taints
            ]
            or None,
            tags=tags,
            opts=self.child_opts(ignore_changes=["scalingConfig.desiredSize"], depends_on=daemon_addons),
        )

    def _ecs(self, args: ComputeArgs) -> None:
        exec_logs = aws.cloudwatch.LogGroup(
            self.name("ecs-exec"),
            name=f"/walletops/{self.env.name}/ecs-exec",
            retention_in_days=self.env.logging.audit_retention_days,
            kms_key_id=args.logs_key_arn,
            tags={**self.tags(), "log-class": "audit"},
            opts=self.child_opts(stateful=True),
        )
        self.ecs_cluster = aws.ecs.Cluster(
            self.cluster_name,
            name=self.cluster_name,
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            configuration=aws.ecs.ClusterConfigurationArgs(
                execute_command_configuration=aws.ecs.ClusterConfigurationExecuteCommandConfigurationArgs(
                    kms_key_id=args.secrets_key_arn,
                    logging="OVERRIDE",
                    log_configuration=aws.ecs.ClusterConfigurationExecuteCommandConfigurationLogConfigurationArgs(
                        cloud_watch_encryption_enabled=True,
                        cloud_watch_log_group_name=exec_logs.name,
                    ),
                )
            ),
            tags=self.tags(),
            opts=self.child_opts(),
        )
        aws.ecs.ClusterCapacityProviders(
            self.name("capacity"),
            cluster_name=self.ecs_cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategies=[
                aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(
                    capacity_provider="FARGATE", base=1, weight=1
                )
            ],
            opts=self.child_opts(),
        )


def _kubeconfig(name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that authenticates with ``aws eks get-token`` (short-lived, role-based)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", name, "--region", region],
                        }
                    },
                }
            ],
        }
    )
