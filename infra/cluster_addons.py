"""Cluster add-ons the program runs itself: the Cluster Autoscaler.

HPAs add pods; without something adding nodes, pods beyond the node groups' desired size stay
Pending (prod at max replicas asks for far more CPU than its desired nodes hold). The Cluster
Autoscaler grows and shrinks the managed node groups between their configured ``min_size`` and
``max_size`` (those are its limits). It was chosen over Karpenter because the gateway registers
the node groups' Auto Scaling groups as NLB targets: nodes Karpenter launched would sit outside
them. EKS tags each managed group's Auto Scaling group ``k8s.io/cluster-autoscaler/<cluster>``,
which both the discovery flag and the IAM condition use, so the autoscaler can touch this
cluster's groups only. Plain manifests (not a chart) keep every object visible to the scanners.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent, policy_json
from infra.iam import irsa_trust

NAMESPACE = "kube-system"
NAME = "cluster-autoscaler"
NOBODY = 65534
METRICS_PORT = 8085


@dataclass
class ClusterAddonsArgs:
    """The cluster, its IRSA issuer and Kubernetes provider, the node groups to scale."""

    cluster_name: pulumi.Input[str]
    oidc_provider: aws.iam.OpenIdConnectProvider
    k8s_provider: pulumi.ProviderResource
    node_groups: list[aws.eks.NodeGroup]
    permissions_boundary_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]


def autoscaler_policy(cluster: str, account: str, region: str) -> str:
    """Read what is needed to plan (the Describe calls AWS does not scope to a resource); read only
    ``cluster``'s node groups and change only its Auto Scaling groups: EKS-named groups of this
    account and region that carry the cluster's autoscaler tag."""
    return policy_json(
        [
            {
                "Sid": "DiscoverGroupsAndInstanceTypes",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "Resource": "*",
            },
            {
                "Sid": "DescribeThisClustersNodeGroups",
                "Effect": "Allow",
                "Action": "eks:DescribeNodegroup",
                "Resource": f"arn:aws:eks:{region}:{account}:nodegroup/{cluster}/*/*",
            },
            {
                "Sid": "ScaleOnlyThisClustersGroups",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:SetDesiredCapacity",
                    "autoscaling:TerminateInstanceInAutoScalingGroup",
                ],
                "Resource": (
                    f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/eks-*"
                ),
                "Condition": {
                    "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}
                },
            },
        ]
    )


def autoscaler_args(cluster: str, env: EnvironmentConfig) -> list[str]:
    """Command line of the autoscaler: discover this cluster's groups, balance zones, least waste."""
    assert env.kubernetes is not None
    settings = env.kubernetes.cluster_autoscaler
    return [
        "./cluster-autoscaler",
        "--cloud-provider=aws",
        f"--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{cluster}",
        "--balance-similar-node-groups",
        f"--expander={settings.expander}",
        f"--scale-down-unneeded-time={settings.scale_down_unneeded_minutes}m",
        "--skip-nodes-with-system-pods=false",
        "--skip-nodes-with-local-storage=false",
        f"--address=:{METRICS_PORT}",
        "--stderrthreshold=info",
        "--v=2",
    ]


class ClusterAddons(WalletComponent):
    """The Cluster Autoscaler: IRSA role, RBAC, a two-replica Deployment with leader election, PDB."""

    component = "compute"

    def __init__(
        self,
        name: str,
        args: ClusterAddonsArgs,
        env: EnvironmentConfig,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("compute:ClusterAddons", name, env, opts)
        self.args = args
        role = self._role()
        self.autoscaler = self._autoscaler(role)
        self.register_outputs({"autoscaler_role_arn": role.arn})

    def _k8s(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return self.child_opts(provider=self.args.k8s_provider, depends_on=depends_on)

    def _meta(self, namespaced: bool = True) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=NAME,
            namespace=NAMESPACE if namespaced else None,
            labels={
                "app.kubernetes.io/name": NAME,
                **{f"walletops.io/{k}": v for k, v in self.tags().items()},
            },
        )

    def _role(self) -> aws.iam.Role:
        provider = self.args.oidc_provider
        trust = irsa_trust(provider, NAMESPACE, NAME)
        role = aws.iam.Role(
            self.name(NAME, "irsa"),
            name=self.name(NAME, "irsa"),
            assume_role_policy=trust,
            permissions_boundary=self.args.permissions_boundary_arn,
            tags=self.tags(),
            opts=self.child_opts(),
        )
        aws.iam.RolePolicy(
            self.name(NAME, "permissions"),
            role=role.id,
            policy=pulumi.Output.all(self.args.cluster_name, self.args.account_id).apply(
                lambda values: autoscaler_policy(values[0], values[1], self.env.region)
            ),
            opts=self.child_opts(),
        )
        return role

    def _rbac(self) -> list[pulumi.Resource]:
        rbac = k8s.rbac.v1
        read = ["get", "list", "watch"]
        cluster_rules = [
            rbac.PolicyRuleArgs(
                api_groups=[""], resources=["events", "endpoints"], verbs=["create", "patch"]
            ),
            rbac.PolicyRuleArgs(api_groups=[""], resources=["pods/eviction"], verbs=["create"]),
            rbac.PolicyRuleArgs(api_groups=[""], resources=["pods/status"], verbs=["update"]),
            rbac.PolicyRuleArgs(
                api_groups=[""], resources=["endpoints"], resource_names=[NAME], verbs=["get", "update"]
            ),
            rbac.PolicyRuleArgs(api_groups=[""], resources=["nodes"], verbs=[*read, "update"]),
            rbac.PolicyRuleArgs(
                api_groups=[""],
                resources=[
                    "namespaces",
                    "pods",
                    "services",
                    "replicationcontrollers",
                    "persistentvolumeclaims",
                    "persistentvolumes",
                ],
                verbs=read,
            ),
            rbac.PolicyRuleArgs(api_groups=["policy"], resources=["poddisruptionbudgets"], verbs=read),
            rbac.PolicyRuleArgs(
                api_groups=["apps"], resources=["statefulsets", "replicasets", "daemonsets"], verbs=read
            ),
            rbac.PolicyRuleArgs(
                api_groups=["storage.k8s.io"],
                resources=[
                    "storageclasses",
                    "csinodes",
                    "csidrivers",
                    "csistoragecapacities",
                    "volumeattachments",
                ],
                verbs=read,
            ),
            rbac.PolicyRuleArgs(api_groups=["batch"], resources=["jobs", "cronjobs"], verbs=read),
            rbac.PolicyRuleArgs(api_groups=["coordination.k8s.io"], resources=["leases"], verbs=["create"]),
            rbac.PolicyRuleArgs(
                api_groups=["coordination.k8s.io"],
                resources=["leases"],
                resource_names=[NAME],
                verbs=["get", "update"],
            ),
        ]
        subject = rbac.SubjectArgs(kind="ServiceAccount", name=NAME, namespace=NAMESPACE)
        cluster_role = rbac.ClusterRole(
            self.name(NAME, "clusterrole"), metadata=self._meta(False), rules=cluster_rules, opts=self._k8s()
        )
        binding = rbac.ClusterRoleBinding(
            self.name(NAME, "clusterrolebinding"),
            metadata=self._meta(False),
            role_ref=rbac.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=NAME),
            subjects=[subject],
            opts=self._k8s([cluster_role]),
        )
        role = rbac.Role(
            self.name(NAME, "role"),
            metadata=self._meta(),
            rules=[
                rbac.PolicyRuleArgs(
                    api_groups=[""], resources=["configmaps"], verbs=["create", "list", "watch"]
                ),
                rbac.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["configmaps"],
                    resource_names=["cluster-autoscaler-status", "cluster-autoscaler-priority-expander"],
                    verbs=["delete", "get", "update", "watch"],
                ),
            ],
            opts=self._k8s(),
        )
        role_binding = rbac.RoleBinding(
            self.name(NAME, "rolebinding"),
            metadata=self._meta(),
            role_ref=rbac.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=NAME),
            subjects=[subject],
            opts=self._k8s([role]),
        )
        return [binding, role_binding]

    def _autoscaler(self, role: aws.iam.Role) -> k8s.apps.v1.Deployment:
        env = self.env
        assert env.kubernetes is not None
        account = k8s.core.v1.ServiceAccount(
            self.name(NAME, "sa"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAME,
                namespace=NAMESPACE,
                labels={"app.kubernetes.io/name": NAME},
                annotations={"eks.amazonaws.com/role-arn": role.arn},
            ),
            automount_service_account_token=True,
            opts=self._k8s(),
        )
        bindings = self._rbac()
        selector = {"app.kubernetes.io/name": NAME}
        args = pulumi.Output.from_input(self.args.cluster_name).apply(
            lambda cluster: autoscaler_args(cluster, env)
        )
        container = k8s.core.v1.ContainerArgs(
            name=NAME,
            image=env.kubernetes.cluster_autoscaler.image,
            command=args,
            env=[k8s.core.v1.EnvVarArgs(name="AWS_REGION", value=env.region)],
            ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT)],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "100m", "memory": "600Mi"}, limits={"cpu": "500m", "memory": "600Mi"}
            ),
            security_context=k8s.core.v1.SecurityContextArgs(
                allow_privilege_escalation=False,
                privileged=False,
                read_only_root_filesystem=True,
                run_as_non_root=True,
                run_as_user=NOBODY,
                run_as_group=NOBODY,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            liveness_probe=k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path="/health-check", port="metrics"),
                period_seconds=10,
                failure_threshold=3,
            ),
            readiness_probe=k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path="/health-check", port="metrics"),
                period_seconds=10,
            ),
        )
        deployment = k8s.apps.v1.Deployment(
            self.name(NAME, "deployment"),
            metadata=self._meta(),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=2,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=selector),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=NAME,
                        priority_class_name="system-cluster-critical",
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=NOBODY,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        node_selector={"walletops.io/capacity": "on_demand"},
                        containers=[container],
                        topology_spread_constraints=[
                            k8s.core.v1.TopologySpreadConstraintArgs(
                                max_skew=1,
                                topology_key="topology.kubernetes.io/zone",
                                when_unsatisfiable="ScheduleAnyway",
                                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                            )
                        ],
                    ),
                ),
            ),
            opts=self._k8s([account, *bindings, *self.args.node_groups]),
        )
        k8s.policy.v1.PodDisruptionBudget(
            self.name(NAME, "pdb"),
            metadata=self._meta(),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)
            ),
            opts=self._k8s(),
        )
        return deployment
