"""Distributed load tests inside an environment's cluster: a Locust master and autoscaled workers.

Deployed only where ``loadtest.in_cluster`` is true (stage). Everything lives in its own
namespace, pod-security ``restricted``, default-deny: workers reach the master on 5557 and the
gateway over HTTPS; the master accepts only workers and reaches the gateway (for the ledger
check). The locustfile, the environment's SLO file and the gateway spec come from a ConfigMap, so
the image is the walletops toolkit and the test definition is versioned with this repository.
The master serves Locust's web UI/REST API on 8089 for ``kubectl port-forward`` only (see
``loadtests/README.md``); workers scale on CPU between the configured bounds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent
from infra.workloads import restricted_container_context, restricted_pod_context

PROJECT_DIR = Path(__file__).resolve().parent.parent
MASTER_PORT = 5557
WEB_PORT = 8089
CONFIG_MOUNT = "/etc/walletops"
KEYS_MOUNT = "/run/walletops-loadtest"
KEY_FILES = (("WALLETOPS_LT_API_KEY", "api-key"), ("WALLETOPS_LT_OPERATOR_KEY", "operator-api-key"))
"""The API keys Secret, mounted as files (``WALLETOPS_LT_*_FILE``), never environment variables."""
PRIVATE_RANGES: list[str] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]


@dataclass
class LoadtestClusterArgs:
    """What the load-test cluster needs from the rest of the program."""

    gateway_url: pulumi.Input[str]
    image: str
    """The toolkit image (``loadtest.image`` in config)."""
    k8s_provider: pulumi.ProviderResource | None = None
    namespace: str = "wallet-loadtest"
    scenario: str = "load"
    api_keys_secret: str = "loadtest-api-keys"  # noqa: S105 (the name of a Kubernetes Secret)
    gateway_port: int = 443
    worker_cpu_target_percent: int = 70
    files: dict[str, str] = field(default_factory=dict)


def config_files(env: EnvironmentConfig, project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """ConfigMap data: the locustfile, this environment's SLO file and the gateway spec."""
    return {
        "locustfile.py": (project_dir / "loadtests" / "locustfile.py").read_text(encoding="utf-8"),
        "slo.yaml": (project_dir / "loadtests" / "slo" / f"{env.name}.yaml").read_text(encoding="utf-8"),
        "gateway.yaml": (project_dir / "gateway.yaml").read_text(encoding="utf-8"),
    }


class LoadtestCluster(WalletComponent):
    """Namespace, policies, ConfigMap, master Deployment+Service, worker Deployment+HPA."""

    component = "loadtest"

    def __init__(
        self,
        name: str,
        env: EnvironmentConfig,
        args: LoadtestClusterArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("loadtest:LoadtestCluster", name, env, opts)
        self.args = args
        files = args.files or config_files(env)
        self.labels = self.tags(service="loadtest")
        self.namespace = k8s.core.v1.Namespace(
            self.name("loadtest", "namespace"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace,
                labels={
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                    **self.labels,
                },
            ),
            opts=self._opts(),
        )
        self.config_map = k8s.core.v1.ConfigMap(
            self.name("loadtest", "config"),
            metadata=self._meta("locust-config"),
            data=files,
            opts=self._opts([self.namespace]),
        )
        self.service_account = k8s.core.v1.ServiceAccount(
            self.name("loadtest", "sa"),
            metadata=self._meta("locust"),
            automount_service_account_token=False,
            opts=self._opts([self.namespace]),
        )
        checksum = hashlib.sha256("".join(f"{k}\0{v}" for k, v in sorted(files.items())).encode()).hexdigest()
        self._network_policies()
        self.master_service = k8s.core.v1.Service(
            self.name("loadtest", "master"),
            metadata=self._meta("locust-master"),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector={"app.kubernetes.io/name": "locust", "app.kubernetes.io/component": "master"},
                ports=[
                    k8s.core.v1.ServicePortArgs(name="master", port=MASTER_PORT, target_port=MASTER_PORT),
                    k8s.core.v1.ServicePortArgs(name="web", port=WEB_PORT, target_port=WEB_PORT),
                ],
            ),
            opts=self._opts([self.namespace]),
        )
        self.master = self._deployment("master", 1, checksum, self._master_args())
        self.workers = self._deployment(
            "worker",
            env.loadtest.min_workers,
            checksum,
            ["--worker", "--master-host", "locust-master", "--master-port", str(MASTER_PORT)],
        )
        self.autoscaler = k8s.autoscaling.v2.HorizontalPodAutoscaler(
            self.name("loadtest", "workers-hpa"),
            metadata=self._meta("locust-worker"),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name="locust-worker"
                ),
                min_replicas=env.loadtest.min_workers,
                max_replicas=env.loadtest.max_workers,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=args.worker_cpu_target_percent
                            ),
                        ),
                    )
                ],
            ),
            opts=self._opts([self.workers]),
        )
        self.register_outputs(
            {
                "namespace": args.namespace,
                "master_service": "locust-master",
                "min_workers": env.loadtest.min_workers,
                "max_workers": env.loadtest.max_workers,
            }
        )

    def _opts(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return self.child_opts(provider=self.args.k8s_provider, depends_on=depends_on)

    def _meta(self, name: str) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self.args.namespace, labels=self.labels)

    def _master_args(self) -> list[str]:
        return [
            "--master",
            "--master-bind-port",
            str(MASTER_PORT),
            "--web-port",
            str(WEB_PORT),
            "--csv",
            "/reports/locust",
            "--csv-full-history",
            "--html",
            "/reports/locust-report.html",
        ]

    def _environment(self) -> list[k8s.core.v1.EnvVarArgs]:
        env = self.env
        values: dict[str, pulumi.Input[str]] = {
            "WALLETOPS_LT_SCENARIO": self.args.scenario,
            "WALLETOPS_LT_ENV": env.name,
            "WALLETOPS_LT_PROJECT_DIR": CONFIG_MOUNT,
            "WALLETOPS_LT_SLO_FILE": f"{CONFIG_MOUNT}/slo.yaml",
            "WALLETOPS_LT_SUMMARY_FILE": "/reports/summary.json",
            "WALLETOPS_LT_EXCHANGES": ",".join(
                f"{exchange.name}:{exchange.kind}" for exchange in env.exchanges
            ),
            "WALLETOPS_LT_TARGET": self.args.gateway_url,
            "LOCUST_HOST": self.args.gateway_url,
            "HOME": "/tmp",  # noqa: S108 (an emptyDir in the pod)
        }
        for name, key in KEY_FILES:
            values[f"{name}_FILE"] = f"{KEYS_MOUNT}/{key}"
        return [k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in values.items()]

    def _deployment(self, role: str, replicas: int, checksum: str, args: list[str]) -> k8s.apps.v1.Deployment:
        labels = {"app.kubernetes.io/name": "locust", "app.kubernetes.io/component": role}
        master = role == "master"
        if master:
            probe = k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path="/", port=WEB_PORT),
                period_seconds=10,
                timeout_seconds=3,
            )
            ports = [
                k8s.core.v1.ContainerPortArgs(name="master", container_port=MASTER_PORT),
                k8s.core.v1.ContainerPortArgs(name="web", container_port=WEB_PORT),
            ]
        else:
            check = f"import socket; socket.create_connection(('locust-master', {MASTER_PORT}), 3).close()"
            probe = k8s.core.v1.ProbeArgs(
                exec_=k8s.core.v1.ExecActionArgs(command=["python", "-c", check]),
                period_seconds=15,
                timeout_seconds=5,
                failure_threshold=4,
            )
            ports = []
        container = k8s.core.v1.ContainerArgs(
            name=f"locust-{role}",
            image=self.args.image,
            command=["locust"],
            args=["-f", f"{CONFIG_MOUNT}/locustfile.py", *args],
            ports=ports,
            env=self._environment(),
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "500m" if master else "1000m", "memory": "512Mi"},
                limits={"cpu": "1000m", "memory": "1Gi"},
            ),
            security_context=restricted_container_context(),
            readiness_probe=probe,
            liveness_probe=probe,
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_MOUNT, read_only=True),
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),  # noqa: S108 (an emptyDir in the pod)
                k8s.core.v1.VolumeMountArgs(name="reports", mount_path="/reports"),
                k8s.core.v1.VolumeMountArgs(name="api-keys", mount_path=KEYS_MOUNT, read_only=True),
            ],
        )
        return k8s.apps.v1.Deployment(
            self.name("loadtest", role),
            metadata=self._meta(f"locust-{role}"),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**labels, **self.labels}, annotations={"walletops/config-sha256": checksum}
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name="locust",
                        automount_service_account_token=False,
                        security_context=restricted_pod_context(),
                        containers=[container],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="config",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="locust-config"),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="reports",
                                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi"),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="api-keys",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(
                                    secret_name=self.args.api_keys_secret,
                                    items=[
                                        k8s.core.v1.KeyToPathArgs(key=key, path=key) for _, key in KEY_FILES
                                    ],
                                    default_mode=0o440,
                                ),
                            ),
                        ],
                    ),
                ),
            ),
            opts=self.child_opts(
                provider=self.args.k8s_provider,
                depends_on=[self.config_map, self.service_account],
                ignore_changes=["spec.replicas"] if not master else None,
            ),
        )

    def _network_policies(self) -> None:
        role = "app.kubernetes.io/component"
        dns = k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[
                k8s.networking.v1.NetworkPolicyPeerArgs(
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_labels={"kubernetes.io/metadata.name": "kube-system"}
                    ),
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                )
            ],
            ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol=p) for p in ("UDP", "TCP")],
        )
        gateway = k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[
                k8s.networking.v1.NetworkPolicyPeerArgs(
                    ip_block=k8s.networking.v1.IPBlockArgs(cidr="0.0.0.0/0", except_=PRIVATE_RANGES)
                )
            ],
            ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=self.args.gateway_port, protocol="TCP")],
        )
        master_port = [k8s.networking.v1.NetworkPolicyPortArgs(port=MASTER_PORT, protocol="TCP")]
        workers_peer = k8s.networking.v1.NetworkPolicyPeerArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={role: "worker"})
        )
        master_peer = k8s.networking.v1.NetworkPolicyPeerArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={role: "master"})
        )
        policies = {
            "default-deny": k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
            "master": k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={role: "master"}),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[workers_peer], ports=master_port)
                ],
                egress=[dns, gateway],
            ),
            "worker": k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={role: "worker"}),
                policy_types=["Ingress", "Egress"],
                ingress=[],
                egress=[
                    dns,
                    gateway,
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[master_peer], ports=master_port),
                ],
            ),
        }
        for name, spec in policies.items():
            k8s.networking.v1.NetworkPolicy(
                self.name("loadtest", "netpol", name),
                metadata=self._meta(f"locust-{name}"),
                spec=spec,
                opts=self._opts([self.namespace]),
            )


def build_loadtest_cluster(
    env: EnvironmentConfig,
    *,
    provider: pulumi.ProviderResource | None,
    gateway_url: pulumi.Input[str],
    parent_opts: pulumi.ResourceOptions | None = None,
) -> LoadtestCluster | None:
    """The in-cluster Locust deployment of ``env`` when its config enables it, else None."""
    if not env.loadtest.in_cluster or env.kubernetes is None:
        return None
    args = LoadtestClusterArgs(gateway_url=gateway_url, k8s_provider=provider, image=env.loadtest.image)
    return LoadtestCluster("loadtest", env, args, parent_opts)
