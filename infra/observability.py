"""Observability infrastructure: where logs and traces go, per ``logging.elastic`` in config.

``eck`` (EKS only): the EBS CSI driver add-on (IRSA role) and an encrypted gp3 StorageClass; the
ECK operator (Helm chart, version from config); Elasticsearch (1 node, or 3+ spread over the AZs
with shard allocation awareness on the node's zone), Kibana and APM Server as ECK resources with
TLS on every HTTP endpoint; an S3 snapshot repository bucket that the Elasticsearch pods reach
through IRSA. ``external``: no cluster; the shipper points at ``elastic_endpoint``.
``opensearch``: an Amazon OpenSearch Service domain in the private subnets (KMS at rest,
node-to-node TLS, HTTPS only, fine-grained access with an IAM master role). The unused modes create nothing.

On EKS the shipper is Fluent Bit (a DaemonSet with a filesystem buffer on each node, Kubernetes
metadata, the services' ECS JSON merged into the record) routing on ``event.dataset`` to the data
streams ``logs-walletops.{service,audit,access}-<env>``. The namespaces are default-deny; network
policies open exactly: services → APM Server 8200, shipper/Kibana/APM → Elasticsearch 9200,
Kibana from inside the VPC only.

TLS of the ECK endpoints: Elasticsearch and Kibana keep ECK's self-signed certificates (their
clients, the shipper and ECK's own associations, live in this namespace and verify against ECK's
CA). APM Server's clients are the services in another namespace, where ECK's CA secret cannot be
mounted: its HTTP certificate is a cert-manager ``Certificate`` issued by the platform's private CA
(``infra/transit.py``'s cluster issuer), the CA the services already trust
(``WALLETSTUB_TLS_CA_FILE``). The snapshot repository and the SLM policy are Elasticsearch API
objects rendered by ``observability/``: this component exports the bucket and the repository name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from contracts.config import ComputeEngine, ElasticMode, EnvironmentConfig
from infra.common import WalletComponent, policy_json
from infra.iam import irsa_trust
from infra.logging import SNAPSHOT_BUCKET_PURPOSE, bucket_name, private_bucket, tls_only
from infra.transit import TransitTls

NAMESPACE = "observability"
OPERATOR_NAMESPACE = "elastic-system"
STACK_NAME = "walletops"
"""Name of the Elasticsearch, Kibana and APM Server resources (ECK derives service names from it)."""
STORAGE_CLASS = "gp3-encrypted"
SNAPSHOT_REPOSITORY = "walletops-snapshots"
ES_PORT = 9200
TRANSPORT_PORT = 9300
KIBANA_PORT = 5601
APM_PORT = 8200
SHIPPER = "fluent-bit"
SHIPPER_USER = "walletops-shipper"
SHIPPER_ROLE = "walletops_shipper"
SHIPPER_HTTP_PORT = 2020
BUFFER_PATH = "/var/fluent-bit/state"
SHIPPER_CREDENTIALS = "fluent-bit-credentials"
"""The shipper's Elasticsearch login as a Fluent Bit file (``@SET ES_USER=…`` and ``@SET ES_PASSWORD=…``,
key ``credentials.conf``), which its configuration includes: Fluent Bit reads an output's password
from a configuration variable only, so the variables come from a mounted secret, not the environment.
ECK: the program writes it; ``external``: operators create ``elastic-shipper`` with that key."""
CREDENTIALS_KEY = "credentials.conf"
CREDENTIALS_DIR = "/fluent-bit/secrets"
APM_TOKEN_SECRET = f"{STACK_NAME}-apm-token"
"""ECK's APM token secret (key ``secret-token``); the services read a copy in their namespace."""
APM_TOKEN_KEY = "secret-token"  # noqa: S105 (a key name, not a secret)
ELASTIC_USER_SECRET = f"{STACK_NAME}-es-elastic-user"
APM_HTTP_SERVICE = f"{STACK_NAME}-apm-http"
"""The Service ECK puts in front of APM Server (``<name>-apm-http``): the name the services call."""
APM_TLS_SECRET = f"{STACK_NAME}-apm-http-pca"
"""Secret (``tls.crt``, ``tls.key``, ``ca.crt``) cert-manager writes and ECK serves APM Server's HTTP with."""
CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
ES_SERVICE_ACCOUNT = "elasticsearch"
WEB_IDENTITY_DIR = "/usr/share/elasticsearch/config/repository-s3"
DATASETS: tuple[str, ...] = ("walletops.service", "walletops.audit", "walletops.access")
"""``event.dataset`` values the services write; each goes to its own data stream."""
OTHER_DATASET = "kubernetes.container"
"""Data stream of every other container's lines (system pods), kept apart from the services'."""
ZONE_LABEL = "topology.kubernetes.io/zone"
RETENTION_CONFIG = "log-retention"
INTERNAL_LB_ANNOTATIONS: dict[str, str] = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
}
"""An internal NLB (in-tree controller and AWS Load Balancer Controller spell it differently)."""


def data_stream(dataset: str, env: str) -> str:
    """``logs-<dataset>-<env>``: the data stream naming scheme ``type-dataset-namespace``."""
    return f"logs-{dataset}-{env}"


def apm_server_url(env: EnvironmentConfig) -> str | None:
    """Where the services send APM data: ECK's APM Server, the external one, or nowhere."""
    if env.logging.elastic is ElasticMode.eck:
        return f"https://{APM_HTTP_SERVICE}.{NAMESPACE}.svc:{APM_PORT}"
    if env.logging.elastic is ElasticMode.external:
        return env.logging.apm_endpoint
    return None


def retention_days(env: EnvironmentConfig) -> dict[str, str]:
    """Days each data stream's data is kept (the ILM policies of ``observability/`` apply them): the
    retention contract of the environment, in the cluster and in the plan, where policy checks it."""
    logging = env.logging
    days = (logging.app_retention_days, logging.audit_retention_days, logging.access_retention_days)
    return {data_stream(dataset, env.name): str(value) for dataset, value in zip(DATASETS, days, strict=True)}


def shipper_role() -> str:
    """``roles.yml`` of the shipper's file-realm role: create documents in the walletops streams only."""
    return json.dumps(
        {
            SHIPPER_ROLE: {
                "cluster": ["monitor"],
                "indices": [
                    {
                        "names": ["logs-walletops.*", f"logs-{OTHER_DATASET}-*"],
                        "privileges": ["create_doc", "auto_configure"],
                    }
                ],
            }
        },
        sort_keys=True,
    )


@dataclass
class ObservabilityArgs:
    """What the observability infrastructure needs from the other components."""

    account_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    app_subnet_ids: list[pulumi.Output[str]]
    ebs_key_arn: pulumi.Input[str]
    s3_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    permissions_boundary_arn: pulumi.Input[str]
    access_logs_bucket: pulumi.Input[str]
    """The audit logging's access-log bucket: the snapshot bucket's server access logs go there."""
    access_logs_policy: pulumi.Resource
    """That bucket's policy, which lets S3 log delivery write the snapshot bucket's logs."""
    replicate: Callable[[aws.s3.Bucket, aws.s3.BucketVersioning], object] | None = None
    """Copies the snapshot bucket to the replica region (``AuditLogging.replicated``), if there is one."""
    services_namespace: str = "wallet"
    cluster_name: pulumi.Input[str] | None = None
    oidc_provider: aws.iam.OpenIdConnectProvider | None = None
    k8s_provider: pulumi.ProviderResource | None = None
    node_groups: list[aws.eks.NodeGroup] = field(default_factory=list)
    tls: TransitTls | None = None
    """The private CA and its cluster issuer (EKS): APM Server's HTTP certificate comes from it."""


class Observability(WalletComponent):
    """ECK (or an external endpoint, or OpenSearch), storage and snapshots, and the log shipper."""

    component = "observability"

    def __init__(
        self,
        name: str,
        args: ObservabilityArgs,
        env: EnvironmentConfig,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("observability:Observability", name, env, opts)
        self.args = args
        self.mode = env.logging.elastic
        self.apm_secret_token: pulumi.Output[str] | None = None
        self.elastic_password: pulumi.Output[str] | None = None
        self.snapshot_bucket: aws.s3.Bucket | None = None
        self.opensearch: aws.opensearch.Domain | None = None
        self.shipper_role: aws.iam.Role | None = None
        self.shipper: k8s.apps.v1.DaemonSet | None = None
        self.shipper_credentials: k8s.core.v1.Secret | None = None
        outputs: dict[str, pulumi.Input[str]] = {"mode": self.mode.value}
        eks = env.compute_engine is ComputeEngine.eks
        if eks:
            self._namespace()
        if self.mode is ElasticMode.eck:
            self._eck()
            assert self.snapshot_bucket is not None
            outputs.update(
                snapshot_bucket=self.snapshot_bucket.bucket,
                snapshot_region=env.region,
                snapshot_repository=SNAPSHOT_REPOSITORY,
                elasticsearch_url=f"https://{STACK_NAME}-es-http.{NAMESPACE}.svc:{ES_PORT}",
            )
        if self.mode is ElasticMode.opensearch:
            self.opensearch = self._opensearch()
            outputs["opensearch_endpoint"] = self.opensearch.endpoint
        if eks:
            self.shipper = self._shipper()
        self.outputs = outputs
        self.register_outputs(outputs)

    # -- helpers -------------------------------------------------------------------------------

    def _k8s(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return self.child_opts(provider=self.args.k8s_provider, depends_on=depends_on)

    def _labels(self, app: str | None = None) -> dict[str, str]:
        labels = {f"walletops.io/{key}": value for key, value in self.tags().items()}
        if app:
            labels["app.kubernetes.io/name"] = app
        return labels

    def _pod_template(self, container: str, *, cpu: str, memory: str) -> dict[str, object]:
        """The restricted pod ECK runs for Kibana or APM Server: no API token, one container with
        ``cpu`` requested (at most one core) and ``memory`` both requested and its limit."""
        return {
            "metadata": {"labels": self._labels()},
            "spec": {
                "automountServiceAccountToken": False,
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": container,
                        "resources": {
                            "requests": {"cpu": cpu, "memory": memory},
                            "limits": {"cpu": "1", "memory": memory},
                        },
                        "securityContext": _restricted(1000),
                    }
                ],
            },
        }

    def _meta(self, name: str, namespace: str = NAMESPACE, **extra: object) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=self._labels(), **extra)  # type: ignore[arg-type]

    def _irsa_role(self, label: str, namespace: str, service_account: str) -> aws.iam.Role:
        """A role only ``namespace/service_account`` of this cluster may assume (web identity)."""
        provider = self.args.oidc_provider
        assert provider is not None
        trust = irsa_trust(provider, namespace, service_account)
        return aws.iam.Role(
            self.name(label, "irsa"),
            name=self.name(label, "irsa"),
            assume_role_policy=trust,
            permissions_boundary=self.args.permissions_boundary_arn,
            tags=self.tags(),
            opts=self.child_opts(),
        )

    def _policy(self, name: str, rule: dict[str, object]) -> k8s.networking.v1.NetworkPolicy:
        return k8s.networking.v1.NetworkPolicy(
            self.name(name),
            metadata=self._meta(name, str(rule.pop("namespace", NAMESPACE))),
            spec=_spec(rule),
            opts=self._k8s([self.namespace]),
        )

    # -- namespaces and their fences -----------------------------------------------------------

    def _namespace(self) -> None:
        """The observability namespace: default-deny, DNS allowed.

        Pod Security ``privileged`` is enforced only because the shipper mounts host paths (the
        node's logs and its buffer); every pod here still runs with a restricted container context
        and ``restricted`` is audited and warned.
        """
        self.namespace = k8s.core.v1.Namespace(
            self.name("observability-namespace"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                labels={
                    "pod-security.kubernetes.io/enforce": "privileged",
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                    **self._labels(),
                },
            ),
            opts=self._k8s(),
        )
        self._fence(NAMESPACE, self.namespace)

    def _fence(self, namespace: str, owner: pulumi.Resource) -> None:
        k8s.networking.v1.NetworkPolicy(
            self.name(namespace, "default-deny"),
            metadata=self._meta("default-deny", namespace),
            spec=_spec({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
            opts=self._k8s([owner]),
        )
        k8s.networking.v1.NetworkPolicy(
            self.name(namespace, "allow-dns"),
            metadata=self._meta("allow-dns", namespace),
            spec=_spec(
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespaceSelector": _ns("kube-system"),
                                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                                }
                            ],
                            "ports": [{"port": 53, "protocol": p} for p in ("UDP", "TCP")],
                        }
                    ],
                }
            ),
            opts=self._k8s([owner]),
        )

    # -- storage -------------------------------------------------------------------------------

    def _ebs_csi(self) -> aws.eks.Addon:
        """The EBS CSI driver add-on, its controller on an IRSA role that may use the EBS key."""
        eck = self.env.logging.eck
        assert eck is not None and self.args.cluster_name is not None
        role = self._irsa_role("ebs-csi", "kube-system", CSI_SERVICE_ACCOUNT)
        aws.iam.RolePolicyAttachment(
            self.name("ebs-csi-managed"),
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
            opts=self.child_opts(),
        )
        aws.iam.RolePolicy(
            self.name("ebs-csi-kms"),
            role=role.id,
            policy=pulumi.Output.from_input(self.args.ebs_key_arn).apply(
                lambda key: policy_json(
                    [
                        {
                            "Sid": "GrantsForAttachedVolumes",
                            "Effect": "Allow",
                            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                            "Resource": key,
                            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                        },
                        {
                            "Sid": "EncryptVolumesWithTheEbsKey",
                            "Effect": "Allow",
                            "Action": [
                                "kms:Encrypt",
                                "kms:Decrypt",
                                "kms:ReEncrypt*",
                                "kms:GenerateDataKey*",
                                "kms:DescribeKey",
                            ],
                            "Resource": key,
                        },
                    ]
                )
            ),
            opts=self.child_opts(),
        )
        return aws.eks.Addon(
            self.name("addon-aws-ebs-csi-driver"),
            cluster_name=self.args.cluster_name,
            addon_name="aws-ebs-csi-driver",
            addon_version=eck.ebs_csi_driver,
            service_account_role_arn=role.arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=self.tags(),
            opts=self.child_opts(depends_on=self.args.node_groups),
        )

    def _storage_class(self, addon: aws.eks.Addon) -> k8s.storage.v1.StorageClass:
        return k8s.storage.v1.StorageClass(
            self.name("storage-class"),
            metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS, labels=self._labels()),
            provisioner="ebs.csi.aws.com",
            parameters={
                "type": "gp3",
                "encrypted": "true",
                "kmsKeyId": self.args.ebs_key_arn,
                "csi.storage.k8s.io/fstype": "ext4",
            },
            reclaim_policy="Retain" if self.env.is_production else "Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=self._k8s([addon]),
        )

    def _snapshots(self) -> aws.iam.Role:
        """The snapshot bucket (private, KMS, versioned, TLS-only, its requests logged to the access-log
        bucket, replicated to ``logging.replica_region`` where there is one) and the role the ES pods
        assume.

        S3 keeps no lifecycle on current objects: Elasticsearch owns which snapshot files live
        (SLM retention); an expiry there would corrupt the repository. Replaced or deleted objects
        expire after ``snapshot_noncurrent_days``; abandoned multipart uploads after 7 days.
        """
        eck = self.env.logging.eck
        assert eck is not None
        env = self.env
        account = pulumi.Output.from_input(self.args.account_id)
        self.snapshot_bucket = private_bucket(
            self,
            "es-snapshots",
            account.apply(lambda acct: bucket_name(self.prefix, SNAPSHOT_BUCKET_PURPOSE, acct, env.region)),
            self.args.s3_key_arn,
            expire_noncurrent_days=eck.snapshot_noncurrent_days,
            on_versioned=self.args.replicate,
        )
        aws.s3.BucketPolicy(
            self.name("es-snapshots-tls-only"),
            bucket=self.snapshot_bucket.id,
            policy=self.snapshot_bucket.arn.apply(tls_only),
            opts=self.child_opts(),
        )
        aws.s3.BucketLogging(
            self.name("es-snapshots-access-logs"),
            bucket=self.snapshot_bucket.id,
            target_bucket=self.args.access_logs_bucket,
            target_prefix=f"{SNAPSHOT_BUCKET_PURPOSE}/",
            opts=self.child_opts(depends_on=[self.args.access_logs_policy]),
        )
        role = self._irsa_role("es-snapshots", NAMESPACE, ES_SERVICE_ACCOUNT)
        aws.iam.RolePolicy(
            self.name("es-snapshots-access"),
            role=role.id,
            policy=pulumi.Output.all(self.snapshot_bucket.arn, self.args.s3_key_arn).apply(
                lambda values: policy_json(
                    [
                        {
                            "Sid": "ListTheRepository",
                            "Effect": "Allow",
                            "Action": [
                                "s3:ListBucket",
                                "s3:GetBucketLocation",
                                "s3:ListBucketMultipartUploads",
                                "s3:ListBucketVersions",
                            ],
                            "Resource": values[0],
                        },
                        {
                            "Sid": "ReadWriteSnapshots",
                            "Effect": "Allow",
                            "Action": [
                                "s3:GetObject",
                                "s3:PutObject",
                                "s3:DeleteObject",
                                "s3:AbortMultipartUpload",
                                "s3:ListMultipartUploadParts",
                            ],
                            "Resource": f"{values[0]}/*",
                        },
                        {
                            "Sid": "UseTheBucketKey",
                            "Effect": "Allow",
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                            "Resource": values[1],
                        },
                    ]
                )
            ),
            opts=self.child_opts(),
        )
        return role

    # -- ECK -----------------------------------------------------------------------------------

    def _eck(self) -> None:
        eck = self.env.logging.eck
        assert eck is not None
        addon = self._ebs_csi()
        storage = self._storage_class(addon)
        snapshot_role = self._snapshots()
        operator_ns = k8s.core.v1.Namespace(
            self.name("eck-operator-namespace"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=OPERATOR_NAMESPACE,
                labels={
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                    **self._labels(),
                },
            ),
            opts=self._k8s(),
        )
        self._fence(OPERATOR_NAMESPACE, operator_ns)
        self._policy(
            "eck-operator-allow",
            {
                "namespace": OPERATOR_NAMESPACE,
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {"from": [_cidr(self.args.vpc_cidr)], "ports": [_tcp(9443)]},
                ],
                "egress": [
                    {"to": [_cidr(self.args.vpc_cidr)], "ports": [_tcp(443)]},
                    {
                        "to": [{"namespaceSelector": _ns(NAMESPACE)}],
                        "ports": [_tcp(ES_PORT), _tcp(KIBANA_PORT), _tcp(APM_PORT)],
                    },
                ],
            },
        )
        self.operator = k8s.helm.v3.Release(
            self.name("eck-operator"),
            name="elastic-operator",
            chart="eck-operator",
            version=eck.operator_chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo="https://helm.elastic.co"),
            namespace=OPERATOR_NAMESPACE,
            create_namespace=False,
            atomic=True,
            values={
                "managedNamespaces": [NAMESPACE],
                "installCRDs": True,
                "webhook": {"enabled": True},
                "config": {"validateStorageClass": True, "ubiFIPSImages": False},
                "podLabels": self._labels(),
                "resources": {
                    "requests": {"cpu": "100m", "memory": "150Mi"},
                    "limits": {"cpu": "1", "memory": "1Gi"},
                },
            },
            opts=self._k8s([operator_ns, self.namespace]),
        )
        self.elastic_password = random.RandomPassword(
            self.name("elastic-password"), length=32, special=False, opts=self.child_opts()
        ).result
        shipper_password = random.RandomPassword(
            self.name("shipper-password"), length=32, special=False, opts=self.child_opts()
        ).result
        self.apm_secret_token = random.RandomPassword(
            self.name("apm-secret-token"), length=48, special=False, opts=self.child_opts()
        ).result
        secrets = [
            self._secret("elastic-user", ELASTIC_USER_SECRET, {"elastic": self.elastic_password}),
            self._secret("apm-token", APM_TOKEN_SECRET, {APM_TOKEN_KEY: self.apm_secret_token}),
            self._secret(
                "shipper-user",
                SHIPPER_USER,
                {"username": SHIPPER_USER, "password": shipper_password, "roles": SHIPPER_ROLE},
                kind="kubernetes.io/basic-auth",
            ),
            self._secret("roles", f"{STACK_NAME}-roles", {"roles.yml": shipper_role()}),
        ]
        self.shipper_credentials = self._secret(
            "shipper-credentials",
            SHIPPER_CREDENTIALS,
            {CREDENTIALS_KEY: shipper_password.apply(shipper_credentials)},
        )
        es_account = k8s.core.v1.ServiceAccount(
            self.name("es-service-account"),
            metadata=self._meta(
                ES_SERVICE_ACCOUNT, annotations={"eks.amazonaws.com/role-arn": snapshot_role.arn}
            ),
            automount_service_account_token=False,
            opts=self._k8s([self.namespace]),
        )
        self.elasticsearch = self._elasticsearch(
            snapshot_role, [self.operator, storage, es_account, *secrets]
        )
        self.kibana = self._kibana()
        self.apm_certificate = self._apm_certificate()
        self.apm = self._apm(secrets[1], self.apm_certificate)
        self._stack_policies()

    def _secret(
        self, label: str, name: str, data: dict[str, pulumi.Input[str]], kind: str = "Opaque"
    ) -> k8s.core.v1.Secret:
        """A secret ECK reads (it keeps a password or token it finds rather than generating one)."""
        return k8s.core.v1.Secret(
            self.name(label, "secret"),
            metadata=self._meta(name),
            type=kind,
            string_data={key: pulumi.Output.secret(value) for key, value in data.items()},
            opts=self._k8s([self.namespace]),
        )

    def _elasticsearch(self, snapshot_role: aws.iam.Role, deps: list[pulumi.Resource]) -> pulumi.Resource:
        eck = self.env.logging.eck
        assert eck is not None
        nodes = eck.elasticsearch_nodes
        spread = nodes > 1
        config: dict[str, object] = {"node.store.allow_mmap": False}
        env_vars: list[dict[str, object]] = [
            {"name": "AWS_ROLE_ARN", "value": snapshot_role.arn},
            {
                "name": "AWS_WEB_IDENTITY_TOKEN_FILE",
                "value": f"{WEB_IDENTITY_DIR}/aws-web-identity-token-file",
            },
            {"name": "AWS_REGION", "value": self.env.region},
        ]
        if spread:
            config.update(
                {
                    "node.attr.zone": "${ZONE}",
                    "cluster.routing.allocation.awareness.attributes": "k8s_node_name,zone",
                }
            )
            env_vars.append(
                {
                    "name": "ZONE",
                    "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{ZONE_LABEL}']"}},
                }
            )
        memory = f"{eck.elasticsearch_memory_mib}Mi"
        selector = {"elasticsearch.k8s.elastic.co/cluster-name": STACK_NAME}
        pod_spec: dict[str, object] = {
            "serviceAccountName": ES_SERVICE_ACCOUNT,
            "automountServiceAccountToken": False,
            "nodeSelector": {"walletops.io/capacity": "on_demand"},
            "securityContext": {"fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "elasticsearch",
                    "env": env_vars,
                    "resources": {
                        "requests": {"cpu": f"{eck.elasticsearch_cpu_millicores}m", "memory": memory},
                        "limits": {"cpu": f"{eck.elasticsearch_cpu_millicores * 2}m", "memory": memory},
                    },
                    "volumeMounts": [
                        {"name": "aws-iam-token", "mountPath": WEB_IDENTITY_DIR, "readOnly": True}
                    ],
                    "securityContext": _restricted(1000),
                }
            ],
            "volumes": [
                {
                    "name": "aws-iam-token",
                    "projected": {
                        "sources": [
                            {
                                "serviceAccountToken": {
                                    "audience": "sts.amazonaws.com",
                                    "expirationSeconds": 86400,
                                    "path": "aws-web-identity-token-file",
                                }
                            }
                        ]
                    },
                }
            ],
        }
        if spread:
            pod_spec["topologySpreadConstraints"] = [
                {
                    "maxSkew": 1,
                    "topologyKey": ZONE_LABEL,
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": selector},
                }
            ]
        return k8s.apiextensions.CustomResource(
            self.name("elasticsearch"),
            api_version="elasticsearch.k8s.elastic.co/v1",
            kind="Elasticsearch",
            metadata=self._meta(
                STACK_NAME,
                annotations={"eck.k8s.elastic.co/downward-node-labels": ZONE_LABEL} if spread else None,
            ),
            spec={
                "version": eck.stack_version,
                "http": {
                    "tls": {
                        "selfSignedCertificate": {
                            "disabled": False,
                            "subjectAltNames": [{"dns": f"{STACK_NAME}-es-http.{NAMESPACE}.svc"}],
                        }
                    }
                },
                "auth": {
                    "fileRealm": [{"secretName": SHIPPER_USER}],
                    "roles": [{"secretName": f"{STACK_NAME}-roles"}],
                },
                "nodeSets": [
                    {
                        "name": "default",
                        "count": nodes,
                        "config": config,
                        "podTemplate": {"metadata": {"labels": self._labels()}, "spec": pod_spec},
                        "volumeClaimTemplates": [
                            {
                                "metadata": {"name": "elasticsearch-data"},
                                "spec": {
                                    "accessModes": ["ReadWriteOnce"],
                                    "storageClassName": STORAGE_CLASS,
                                    "resources": {
                                        "requests": {"storage": f"{eck.elasticsearch_storage_gb}Gi"}
                                    },
                                },
                            }
                        ],
                    }
                ],
            },
            opts=self.child_opts(provider=self.args.k8s_provider, depends_on=deps, stateful=True),
        )

    def _kibana(self) -> pulumi.Resource:
        eck = self.env.logging.eck
        assert eck is not None
        internal_lb = eck.kibana_access == "internal-lb"
        service: dict[str, object] = {"spec": {"type": "LoadBalancer" if internal_lb else "ClusterIP"}}
        if internal_lb:
            service["metadata"] = {"annotations": INTERNAL_LB_ANNOTATIONS}
        return k8s.apiextensions.CustomResource(
            self.name("kibana"),
            api_version="kibana.k8s.elastic.co/v1",
            kind="Kibana",
            metadata=self._meta(STACK_NAME),
            spec={
                "version": eck.stack_version,
                "count": eck.kibana_replicas,
                "elasticsearchRef": {"name": STACK_NAME},
                "http": {"tls": {"selfSignedCertificate": {"disabled": False}}, "service": service},
                "podTemplate": self._pod_template("kibana", cpu="500m", memory="1Gi"),
            },
            opts=self._k8s([self.operator, self.elasticsearch]),
        )

    def _apm_certificate(self) -> pulumi.Resource:
        """APM Server's HTTP certificate from the private CA, for the names of ECK's APM Service.

        The services (another namespace) verify it against the CA they already mount
        (``WALLETSTUB_TLS_CA_FILE``); ECK's own CA could not reach them. cert-manager renews it like
        the pods' certificates, and ECK reloads the secret it names.
        """
        tls = self.args.tls
        assert tls is not None, "ECK runs on EKS, where the transit component installs the issuer"
        hours = self.env.transit.pod_certificate_hours
        deps: list[pulumi.Resource] = [self.namespace]
        if tls.issuer is not None:
            deps.append(tls.issuer)
        return k8s.apiextensions.CustomResource(
            self.name("apm-http-certificate"),
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=self._meta(APM_TLS_SECRET),
            spec={
                "secretName": APM_TLS_SECRET,
                "commonName": f"{APM_HTTP_SERVICE}.{NAMESPACE}.svc",
                "dnsNames": [
                    APM_HTTP_SERVICE,
                    f"{APM_HTTP_SERVICE}.{NAMESPACE}",
                    f"{APM_HTTP_SERVICE}.{NAMESPACE}.svc",
                    f"{APM_HTTP_SERVICE}.{NAMESPACE}.svc.cluster.local",
                ],
                "duration": f"{hours}h",
                "renewBefore": f"{hours // 3}h",
                "privateKey": {"algorithm": "RSA", "size": 2048, "rotationPolicy": "Always"},
                "usages": ["server auth", "digital signature", "key encipherment"],
                "issuerRef": tls.issuer_ref(),
            },
            opts=self._k8s(deps),
        )

    def _apm(self, token: k8s.core.v1.Secret, certificate: pulumi.Resource) -> pulumi.Resource:
        eck = self.env.logging.eck
        assert eck is not None
        return k8s.apiextensions.CustomResource(
            self.name("apm-server"),
            api_version="apm.k8s.elastic.co/v1",
            kind="ApmServer",
            metadata=self._meta(STACK_NAME),
            spec={
                "version": eck.stack_version,
                "count": eck.apm_replicas,
                "elasticsearchRef": {"name": STACK_NAME},
                "kibanaRef": {"name": STACK_NAME},
                "http": {"tls": {"certificate": {"secretName": APM_TLS_SECRET}}},
                "podTemplate": self._pod_template("apm-server", cpu="250m", memory="512Mi"),
            },
            opts=self._k8s([self.operator, self.elasticsearch, self.kibana, token, certificate]),
        )

    def _stack_policies(self) -> None:
        """Who may reach Elasticsearch, Kibana and APM Server, and where they may go."""
        es = {"matchLabels": {"elasticsearch.k8s.elastic.co/cluster-name": STACK_NAME}}
        kibana = {"matchLabels": {"kibana.k8s.elastic.co/name": STACK_NAME}}
        apm = {"matchLabels": {"apm.k8s.elastic.co/name": STACK_NAME}}
        shipper = {"matchLabels": {"app.kubernetes.io/name": SHIPPER}}
        operator = {"namespaceSelector": _ns(OPERATOR_NAMESPACE)}
        self._policy(
            "elasticsearch-allow",
            {
                "podSelector": es,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [
                            {"podSelector": kibana},
                            {"podSelector": apm},
                            {"podSelector": shipper},
                            operator,
                        ],
                        "ports": [_tcp(ES_PORT)],
                    },
                    {"from": [{"podSelector": es}], "ports": [_tcp(TRANSPORT_PORT)]},
                ],
                "egress": [
                    {"to": [{"podSelector": es}], "ports": [_tcp(TRANSPORT_PORT)]},
                    {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [_tcp(443)]},
                ],
            },
        )
        self._policy(
            "kibana-allow",
            {
                "podSelector": kibana,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [_cidr(self.args.vpc_cidr), {"podSelector": apm}, operator],
                        "ports": [_tcp(KIBANA_PORT)],
                    }
                ],
                "egress": [{"to": [{"podSelector": es}], "ports": [_tcp(ES_PORT)]}],
            },
        )
        self._policy(
            "apm-server-allow",
            {
                "podSelector": apm,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [{"namespaceSelector": _ns(self.args.services_namespace)}, operator],
                        "ports": [_tcp(APM_PORT)],
                    }
                ],
                "egress": [
                    {"to": [{"podSelector": es}], "ports": [_tcp(ES_PORT)]},
                    {"to": [{"podSelector": kibana}], "ports": [_tcp(KIBANA_PORT)]},
                ],
            },
        )

    # -- OpenSearch ----------------------------------------------------------------------------

    def _opensearch(self) -> aws.opensearch.Domain:
        """A VPC domain: KMS at rest, node-to-node TLS, HTTPS (TLS 1.2) only, IAM master role."""
        search = self.env.logging.opensearch
        assert search is not None
        env = self.env
        group = aws.ec2.SecurityGroup(
            self.name("opensearch-sg"),
            name=self.name("opensearch-sg"),
            description="OpenSearch domain: HTTPS from inside the VPC only",
            vpc_id=self.args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="HTTPS from the VPC",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[self.args.vpc_cidr],
                )
            ],
            tags=self.tags(),
            opts=self.child_opts(),
        )
        account = pulumi.Output.from_input(self.args.account_id)
        master = aws.iam.Role(
            self.name("opensearch-master"),
            name=self.name("opensearch-master"),
            description="Fine-grained access master of the OpenSearch domain (administrators assume it)",
            assume_role_policy=account.apply(
                lambda acct: policy_json(
                    [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                        }
                    ]
                )
            ),
            permissions_boundary=self.args.permissions_boundary_arn,
            tags=self.tags(),
            opts=self.child_opts(),
        )
        zones = min(env.network.az_count, 3)
        zone_aware = env.is_production and search.instance_count >= 2
        domain_name = self.name("logs")[:28]
        return aws.opensearch.Domain(
            self.name("opensearch"),
            domain_name=domain_name,
            engine_version=search.engine_version,
            cluster_config=aws.opensearch.DomainClusterConfigArgs(
                instance_type=search.instance_type,
                instance_count=search.instance_count,
                zone_awareness_enabled=zone_aware,
                zone_awareness_config=aws.opensearch.DomainClusterConfigZoneAwarenessConfigArgs(
                    availability_zone_count=min(zones, search.instance_count)
                )
                if zone_aware
                else None,
            ),
            ebs_options=aws.opensearch.DomainEbsOptionsArgs(
                ebs_enabled=True, volume_type="gp3", volume_size=search.volume_gb
            ),
            encrypt_at_rest=aws.opensearch.DomainEncryptAtRestArgs(
                enabled=True, kms_key_id=self.args.logs_key_arn
            ),
            node_to_node_encryption=aws.opensearch.DomainNodeToNodeEncryptionArgs(enabled=True),
            domain_endpoint_options=aws.opensearch.DomainDomainEndpointOptionsArgs(
                enforce_https=True, tls_security_policy="Policy-Min-TLS-1-2-PFS-2023-10"
            ),
            vpc_options=aws.opensearch.DomainVpcOptionsArgs(
                subnet_ids=self.args.app_subnet_ids[: zones if zone_aware else 1],
                security_group_ids=[group.id],
            ),
            advanced_security_options=aws.opensearch.DomainAdvancedSecurityOptionsArgs(
                enabled=True,
                internal_user_database_enabled=False,
                master_user_options=aws.opensearch.DomainAdvancedSecurityOptionsMasterUserOptionsArgs(
                    master_user_arn=master.arn
                ),
            ),
            access_policies=pulumi.Output.all(account, master.arn).apply(
                lambda values: policy_json(
                    [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{values[0]}:root"},
                            "Action": "es:ESHttp*",
                            "Resource": (f"arn:aws:es:{env.region}:{values[0]}:domain/{domain_name}/*"),
                        }
                    ]
                )
            ),
            tags=self.tags(),
            opts=self.child_opts(stateful=True),
        )

    # -- the shipper ---------------------------------------------------------------------------

    def _shipper_output(self, dataset: str, match: str) -> str:
        """One Fluent Bit ``[OUTPUT]`` section for ``dataset``'s data stream, per mode."""
        env = self.env
        stream = data_stream(dataset, env.name)
        common = [
            f"    Match             {match}",
            f"    Index             {stream}",
            "    Suppress_Type_Name On",
            "    Write_Operation   create",
            "    Trace_Error       On",
            "    Retry_Limit       False",
            f"    storage.total_limit_size {env.logging.shipper.buffer_max_mb // 4}M",
            "    tls               On",
            "    tls.verify        On",
        ]
        if self.mode is ElasticMode.eck:
            lines = [
                "[OUTPUT]",
                "    Name              es",
                f"    Host              {STACK_NAME}-es-http.{NAMESPACE}.svc",
                f"    Port              {ES_PORT}",
                "    HTTP_User         ${ES_USER}",
                "    HTTP_Passwd       ${ES_PASSWORD}",
                "    tls.ca_file       /fluent-bit/tls/ca.crt",
                *common,
            ]
        elif self.mode is ElasticMode.external:
            endpoint = str(env.logging.elastic_endpoint).removeprefix("https://").rstrip("/")
            host, _, port = endpoint.partition(":")
            lines = [
                "[OUTPUT]",
                "    Name              es",
                f"    Host              {host}",
                f"    Port              {port or 443}",
                "    HTTP_User         ${ES_USER}",
                "    HTTP_Passwd       ${ES_PASSWORD}",
                *common,
            ]
        else:
            lines = [
                "[OUTPUT]",
                "    Name              opensearch",
                "    Host              ${OPENSEARCH_HOST}",
                "    Port              443",
                "    AWS_Auth          On",
                f"    AWS_Region        {env.region}",
                *common,
            ]
        return "\n".join(lines)

    def shipper_config(self) -> str:
        """``fluent-bit.conf``: tail the node's container logs, add Kubernetes metadata, merge the
        ECS JSON, route on ``event.dataset`` and send each route to its data stream."""
        credentials = (
            [f"@INCLUDE {CREDENTIALS_DIR}/{CREDENTIALS_KEY}", ""]
            if self.mode is not ElasticMode.opensearch
            else []
        )
        sections = [
            *credentials,
            "[SERVICE]",
            "    Flush             1",
            "    Log_Level         info",
            "    HTTP_Server       On",
            "    HTTP_Listen       0.0.0.0",
            f"    HTTP_Port         {SHIPPER_HTTP_PORT}",
            "    Health_Check      On",
            f"    storage.path      {BUFFER_PATH}/buffer",
            "    storage.type      filesystem",
            "    storage.sync      normal",
            "    storage.backlog.mem_limit 16M",
            "",
            "[INPUT]",
            "    Name              tail",
            "    Tag               kube.*",
            "    Path              /var/log/containers/*.log",
            "    multiline.parser  cri",
            f"    DB                {BUFFER_PATH}/tail.db",
            "    storage.type      filesystem",
            "    Skip_Long_Lines   On",
            "    Refresh_Interval  10",
            "",
            "[FILTER]",
            "    Name              kubernetes",
            "    Match             kube.*",
            "    Merge_Log         On",
            "    Keep_Log          Off",
            "    K8S-Logging.Parser  On",
            "    K8S-Logging.Exclude On",
            "    Labels            On",
            "    Annotations       Off",
            "",
            "[FILTER]",
            "    Name              rewrite_tag",
            "    Match             kube.*",
            "    Emitter_Name      datasets",
            "    Emitter_Storage.type filesystem",
            "    Emitter_Mem_Buf_Limit 16M",
            *(
                f"    Rule              $event['dataset'] ^{_regex(dataset)}$ {dataset} false"
                for dataset in DATASETS
            ),
            "",
            "# The output writes the line's CRI time as @timestamp; a second one from the app is a duplicate",
            "# key Elasticsearch rejects (the two differ by the time stdout takes to reach the file).",
            "[FILTER]",
            "    Name              modify",
            "    Match             *",
            "    Remove            @timestamp",
            "",
            *(f"{self._shipper_output(dataset, dataset)}\n" for dataset in DATASETS),
            self._shipper_output(OTHER_DATASET, "kube.*"),
        ]
        return "\n".join(sections) + "\n"

    def _shipper(self) -> k8s.apps.v1.DaemonSet:
        """Fluent Bit on every node (tolerating every taint), root only to read the node's logs."""
        selector = {"app.kubernetes.io/name": SHIPPER}
        shipper_cfg = self.env.logging.shipper
        deps: list[pulumi.Resource] = [self.namespace]
        annotations: dict[str, pulumi.Input[str]] = {}
        if self.mode is ElasticMode.opensearch:
            assert self.opensearch is not None
            role = self._irsa_role("fluent-bit", NAMESPACE, SHIPPER)
            aws.iam.RolePolicy(
                self.name("fluent-bit-opensearch"),
                role=role.id,
                policy=self.opensearch.arn.apply(
                    lambda arn: policy_json(
                        [
                            {
                                "Sid": "WriteLogs",
                                "Effect": "Allow",
                                "Action": ["es:ESHttpPost", "es:ESHttpPut", "es:ESHttpGet"],
                                "Resource": f"{arn}/*",
                            }
                        ]
                    )
                ),
                opts=self.child_opts(),
            )
            self.shipper_role = role
            annotations["eks.amazonaws.com/role-arn"] = role.arn
        account = k8s.core.v1.ServiceAccount(
            self.name("fluent-bit-sa"),
            metadata=self._meta(SHIPPER, annotations=annotations or None),
            automount_service_account_token=True,
            opts=self._k8s(deps),
        )
        rbac = k8s.rbac.v1
        role_meta = k8s.meta.v1.ObjectMetaArgs(name=f"{NAMESPACE}-{SHIPPER}", labels=self._labels())
        cluster_role = rbac.ClusterRole(
            self.name("fluent-bit-clusterrole"),
            metadata=role_meta,
            rules=[
                rbac.PolicyRuleArgs(
                    api_groups=[""], resources=["namespaces", "pods"], verbs=["get", "list", "watch"]
                )
            ],
            opts=self._k8s(),
        )
        binding = rbac.ClusterRoleBinding(
            self.name("fluent-bit-clusterrolebinding"),
            metadata=role_meta,
            role_ref=rbac.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=f"{NAMESPACE}-{SHIPPER}"
            ),
            subjects=[rbac.SubjectArgs(kind="ServiceAccount", name=SHIPPER, namespace=NAMESPACE)],
            opts=self._k8s([cluster_role]),
        )
        k8s.core.v1.ConfigMap(
            self.name("log-retention"),
            metadata=self._meta(RETENTION_CONFIG),
            data=retention_days(self.env),
            opts=self._k8s(deps),
        )
        config = k8s.core.v1.ConfigMap(
            self.name("fluent-bit-config"),
            metadata=self._meta(f"{SHIPPER}-config"),
            data={"fluent-bit.conf": self.shipper_config()},
            opts=self._k8s(deps),
        )
        egress: list[dict[str, object]] = [{"to": [_cidr(self.args.vpc_cidr)], "ports": [_tcp(443)]}]
        if self.mode is ElasticMode.eck:
            egress.append(
                {
                    "to": [
                        {
                            "podSelector": {
                                "matchLabels": {"elasticsearch.k8s.elastic.co/cluster-name": STACK_NAME}
                            }
                        }
                    ],
                    "ports": [_tcp(ES_PORT)],
                }
            )
        elif self.mode is ElasticMode.external:
            endpoint = str(self.env.logging.elastic_endpoint).removeprefix("https://").rstrip("/")
            egress.append(
                {
                    "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                    "ports": [_tcp(int(endpoint.partition(":")[2] or 443))],
                }
            )
        self._policy(
            "fluent-bit-allow",
            {
                "podSelector": {"matchLabels": selector},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [_cidr(self.args.vpc_cidr)], "ports": [_tcp(SHIPPER_HTTP_PORT)]}],
                "egress": egress,
            },
        )
        env_vars: list[k8s.core.v1.EnvVarArgs] = []
        mounts = [
            k8s.core.v1.VolumeMountArgs(name="varlog", mount_path="/var/log", read_only=True),
            k8s.core.v1.VolumeMountArgs(name="buffer", mount_path=BUFFER_PATH),
            k8s.core.v1.VolumeMountArgs(
                name="config", mount_path="/fluent-bit/etc/fluent-bit.conf", sub_path="fluent-bit.conf"
            ),
        ]
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="varlog",
                host_path=k8s.core.v1.HostPathVolumeSourceArgs(path="/var/log", type="Directory"),
            ),
            k8s.core.v1.VolumeArgs(
                name="buffer",
                host_path=k8s.core.v1.HostPathVolumeSourceArgs(path=BUFFER_PATH, type="DirectoryOrCreate"),
            ),
            k8s.core.v1.VolumeArgs(
                name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=f"{SHIPPER}-config")
            ),
        ]
        if self.mode is ElasticMode.opensearch:
            assert self.opensearch is not None
            env_vars.append(k8s.core.v1.EnvVarArgs(name="OPENSEARCH_HOST", value=self.opensearch.endpoint))
        else:
            mounts.append(
                k8s.core.v1.VolumeMountArgs(name="credentials", mount_path=CREDENTIALS_DIR, read_only=True)
            )
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="credentials",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name=SHIPPER_CREDENTIALS
                        if self.mode is ElasticMode.eck
                        else "elastic-shipper",
                        items=[k8s.core.v1.KeyToPathArgs(key=CREDENTIALS_KEY, path=CREDENTIALS_KEY)],
                        default_mode=0o400,
                    ),
                )
            )
        if self.mode is ElasticMode.eck:
            mounts.append(
                k8s.core.v1.VolumeMountArgs(name="es-ca", mount_path="/fluent-bit/tls", read_only=True)
            )
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="es-ca",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name=f"{STACK_NAME}-es-http-certs-public",
                        items=[k8s.core.v1.KeyToPathArgs(key="ca.crt", path="ca.crt")],
                    ),
                )
            )
            assert self.shipper_credentials is not None
            deps += [self.elasticsearch, self.shipper_credentials]
        probe = k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/api/v1/health", port=SHIPPER_HTTP_PORT),
            period_seconds=10,
            failure_threshold=3,
        )
        memory = f"{shipper_cfg.memory_mib}Mi"
        return k8s.apps.v1.DaemonSet(
            self.name("fluent-bit"),
            metadata=self._meta(SHIPPER),
            spec=k8s.apps.v1.DaemonSetSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                update_strategy=k8s.apps.v1.DaemonSetUpdateStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDaemonSetArgs(max_unavailable=1),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={**selector, **self._labels()}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=SHIPPER,
                        priority_class_name="system-node-critical",
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")
                        ),
                        tolerations=[k8s.core.v1.TolerationArgs(operator="Exists")],
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name=SHIPPER,
                                image=shipper_cfg.image,
                                env=env_vars or None,
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(
                                        name="http", container_port=SHIPPER_HTTP_PORT
                                    )
                                ],
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": f"{shipper_cfg.cpu_millicores}m", "memory": memory},
                                    limits={"cpu": f"{shipper_cfg.cpu_millicores * 5}m", "memory": memory},
                                ),
                                security_context=k8s.core.v1.SecurityContextArgs(
                                    run_as_user=0,
                                    run_as_non_root=False,
                                    privileged=False,
                                    allow_privilege_escalation=False,
                                    read_only_root_filesystem=True,
                                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                                ),
                                liveness_probe=probe,
                                readiness_probe=probe,
                                volume_mounts=mounts,
                            )
                        ],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=self._k8s([*deps, account, binding, config]),
        )


def shipper_credentials(password: str) -> str:
    """The shipper's login as Fluent Bit ``@SET`` commands (the password is alphanumeric: no quoting)."""
    return f"@SET ES_USER={SHIPPER_USER}\n@SET ES_PASSWORD={password}\n"


def _spec(rule: dict[str, object]) -> Any:
    """A NetworkPolicy spec written in the Kubernetes API's own (camelCase) shape, as the scanners
    and ``kubectl`` show it."""
    return rule


def _regex(literal: str) -> str:
    return literal.replace(".", r"\.")


def _ns(name: str) -> dict[str, object]:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def _cidr(cidr: str) -> dict[str, object]:
    return {"ipBlock": {"cidr": cidr}}


def _tcp(port: int) -> dict[str, object]:
    return {"port": port, "protocol": "TCP"}


def _restricted(uid: int) -> dict[str, object]:
    """A restricted container context for ECK's containers (ECK images run as uid 1000); the root
    filesystem setting is left to ECK's defaults, which know each version's writable paths."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
