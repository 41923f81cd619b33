"""Observability: encrypted Elasticsearch storage, TLS on every ECK endpoint (APM Server's from the
platform CA in stage and prod), no public Kibana, and financial and audit log data kept at least
365 days.

The snapshot bucket is an ordinary bucket of the plan: the generic S3 rules (public access block,
KMS encryption, versioning, TLS-only policy) already judge it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.policy.model import Context, NotApplicable, Resource, Severity, is_object, prop, resource_rule

ES = "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"
KIBANA = "kubernetes:kibana.k8s.elastic.co/v1:Kibana"
APM = "kubernetes:apm.k8s.elastic.co/v1:ApmServer"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
SERVICE = "kubernetes:core/v1:Service"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
PLATFORM_ISSUER = "kubernetes:awspca.cert-manager.io/v1beta1:AWSPCAClusterIssuer"
PLATFORM_CA_ENVS = ("stage", "prod")
EBS_PROVISIONERS = ("ebs.csi.aws.com", "kubernetes.io/aws-ebs")
RETENTION_CONFIG = "log-retention"
LONG_LIVED_DATASETS = ("walletops.audit", "walletops.access")
MIN_DAYS = 365


def _encrypted(storage_class: Resource) -> str | None:
    parameters = prop(storage_class, "parameters", {}) or {}
    problems = []
    if str(parameters.get("encrypted", "")).lower() != "true":
        problems.append("parameters.encrypted is not 'true'")
    if not parameters.get("kmsKeyId"):
        problems.append("no parameters.kmsKeyId (the EBS customer key)")
    return "; ".join(problems) or None


@resource_rule(
    "WO-OBS-001",
    "EBS StorageClasses encrypt volumes with the customer EBS key",
    severity=Severity.mandatory,
    controls=("PCI 3.5.1", "FSBP EC2.7"),
    remediation="Set parameters encrypted: 'true' and kmsKeyId: <EBS key ARN> on the StorageClass.",
    types=(STORAGE_CLASS,),
)
def storage_class_encrypted(resource: Resource, ctx: Context) -> str | None:
    if prop(resource, "provisioner") not in EBS_PROVISIONERS:
        raise NotApplicable("not an EBS StorageClass")
    return _encrypted(resource)


@resource_rule(
    "WO-OBS-002",
    "Elasticsearch data volumes use an encrypted StorageClass of the plan",
    severity=Severity.mandatory,
    controls=("PCI 3.5.1",),
    remediation="Set storageClassName on every volumeClaimTemplate to the encrypted gp3 class.",
    types=(ES,),
    graph=True,
)
def elasticsearch_storage_encrypted(resource: Resource, ctx: Context) -> str | None:
    classes = {str(prop(c, "metadata.name")): c for c in ctx.of_type(STORAGE_CLASS)}
    problems = []
    for node_set in prop(resource, "spec.nodeSets", []) or []:
        claims = node_set.get("volumeClaimTemplates") or [] if is_object(node_set) else []
        if not claims:
            problems.append(f"node set {node_set.get('name', '?')}: no volumeClaimTemplates (default class)")
        for claim in claims:
            name = (claim.get("spec") or {}).get("storageClassName")
            storage = classes.get(str(name))
            if storage is None:
                problems.append(f"claim uses StorageClass {name!r}, which the plan does not define")
            elif problem := _encrypted(storage):
                problems.append(f"StorageClass {name}: {problem}")
    return "; ".join(problems) or None


@resource_rule(
    "WO-OBS-003",
    "ECK endpoints serve HTTPS",
    severity=Severity.mandatory,
    controls=("PCI 4.2.1",),
    remediation="Remove spec.http.tls.selfSignedCertificate.disabled (or provide a certificate).",
    types=(ES, KIBANA, APM),
)
def eck_tls(resource: Resource, ctx: Context) -> str | None:
    tls = prop(resource, "spec.http.tls", {}) or {}
    if (tls.get("selfSignedCertificate") or {}).get("disabled") is True and not (
        tls.get("certificate") or {}
    ).get("secretName"):
        return "spec.http.tls.selfSignedCertificate.disabled is true and no certificate is given"
    return None


def _platform_issuers(ctx: Context) -> set[str]:
    return {str(prop(issuer, "metadata.name")) for issuer in ctx.of_type(PLATFORM_ISSUER)}


@resource_rule(
    "WO-OBS-006",
    "APM Server serves a certificate from the platform CA in stage and prod",
    severity=Severity.mandatory,
    controls=("PCI 4.2.1",),
    remediation="Issue a cert-manager Certificate from the AWS Private CA cluster issuer "
    "(AWSPCAClusterIssuer) in APM Server's namespace and set spec.http.tls.certificate.secretName "
    "to its secretName, so the services verify APM Server with WALLETSTUB_TLS_CA_FILE.",
    types=(APM,),
    graph=True,
)
def apm_platform_certificate(resource: Resource, ctx: Context) -> str | None:
    if ctx.env not in PLATFORM_CA_ENVS:
        raise NotApplicable(f"ECK's self-signed certificate is allowed in {ctx.env}")
    secret = prop(resource, "spec.http.tls.certificate.secretName")
    if not secret:
        return (
            "spec.http.tls.certificate.secretName is not set: ECK's self-signed CA, "
            "which the services cannot mount"
        )
    namespace = prop(resource, "metadata.namespace")
    certificates = [
        c
        for c in ctx.of_type(CERTIFICATE)
        if prop(c, "spec.secretName") == secret and prop(c, "metadata.namespace") == namespace
    ]
    if not certificates:
        return (
            f"no cert-manager Certificate of the plan writes the secret {secret!r} in namespace {namespace!r}"
        )
    issuers = _platform_issuers(ctx)
    problems = []
    for certificate in certificates:
        ref = prop(certificate, "spec.issuerRef", {}) or {}
        if ref.get("kind") != "AWSPCAClusterIssuer" or ref.get("name") not in issuers:
            problems.append(
                f"Certificate {certificate['name']} is issued by {ref.get('kind')} {ref.get('name')!r}, "
                "not the platform's AWSPCAClusterIssuer"
            )
    return "; ".join(problems) or None


def _internet_facing(service: Mapping[str, Any]) -> str | None:
    spec = service.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return None
    annotations = (service.get("metadata") or {}).get("annotations") or {}
    internal = annotations.get("service.beta.kubernetes.io/aws-load-balancer-internal") in (
        "true",
        "0.0.0.0/0",
    )
    scheme = annotations.get("service.beta.kubernetes.io/aws-load-balancer-scheme")
    if scheme == "internet-facing" or not (internal or scheme == "internal"):
        return "a LoadBalancer service without the internal annotations gets an internet-facing load balancer"
    return None


@resource_rule(
    "WO-OBS-004",
    "Kibana and other LoadBalancer services are reachable only inside the VPC",
    severity=Severity.mandatory,
    controls=("PCI 1.3.1", "PCI 1.4.1"),
    remediation="Use ClusterIP (port-forward) or annotate the service "
    "service.beta.kubernetes.io/aws-load-balancer-internal: 'true' and -scheme: internal.",
    types=(KIBANA, SERVICE),
)
def no_public_load_balancer(resource: Resource, ctx: Context) -> str | None:
    if resource["type"] == KIBANA:
        service = prop(resource, "spec.http.service", {}) or {}
    else:
        service = {"spec": prop(resource, "spec", {}), "metadata": prop(resource, "metadata", {})}
    return _internet_facing(service) if is_object(service) else None


@resource_rule(
    "WO-OBS-005",
    "Audit and access log data streams are kept at least 365 days",
    severity=Severity.mandatory,
    controls=("PCI 10.5.1",),
    remediation="Set logging.audit_retention_days and logging.access_retention_days to 365 or more.",
    types=(CONFIG_MAP,),
)
def log_stream_retention(resource: Resource, ctx: Context) -> str | None:
    if prop(resource, "metadata.name") != RETENTION_CONFIG:
        raise NotApplicable("not the log retention contract")
    data = prop(resource, "data", {}) or {}
    problems = []
    for dataset in LONG_LIVED_DATASETS:
        streams = [key for key in data if str(key).startswith(f"logs-{dataset}-")]
        if not streams:
            problems.append(f"no retention for {dataset}")
        for stream in streams:
            days = int(data[stream])
            if days < MIN_DAYS:
                problems.append(f"{stream} kept {days} days (< {MIN_DAYS})")
    return "; ".join(problems) or None
