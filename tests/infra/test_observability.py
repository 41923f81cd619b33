"""Observability infrastructure in the plan: ECK, storage, snapshots, the shipper, fences and alarms."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from plan_helpers import key_arn_of, of_type, one, policy_of

from contracts.config import ConfigError, load_environment
from contracts.plan_graph import PlanGraph
from cost.estimator import estimate
from infra.observability import apm_server_url
from infra.planner import ACCOUNT_ID, plan_environments

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("Pulumi.yaml", "gateway.yaml", *(f"Pulumi.{e}.yaml" for e in ("dev", "qa", "stage", "prod")))
ES = "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"
KIBANA = "kubernetes:kibana.k8s.elastic.co/v1:Kibana"
APM = "kubernetes:apm.k8s.elastic.co/v1:ApmServer"
RELEASE = "kubernetes:helm.sh/v3:Release"
ECK_TYPES = (ES, KIBANA, APM, "kubernetes:storage.k8s.io/v1:StorageClass")
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
PCA_ISSUER = "kubernetes:awspca.cert-manager.io/v1beta1:AWSPCAClusterIssuer"


def _named(plan: dict[str, Any], type_token: str, suffix: str) -> dict[str, Any]:
    [found] = [r for r in of_type(plan, type_token) if r["name"].endswith(suffix)]
    return found


def _policy(plan: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [r for r in of_type(plan, NETPOL) if r["inputs"]["metadata"]["name"] == name]
    spec: dict[str, Any] = found["inputs"]["spec"]
    return spec


def eck_operator(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The ECK operator's Helm release (the plan holds other charts, e.g. cert-manager's)."""
    return [r for r in of_type(plan, RELEASE) if r["inputs"]["chart"] == "eck-operator"]


def test_prod_runs_the_operator_then_three_zone_aware_nodes(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    [release] = eck_operator(plan)
    assert release["inputs"]["repositoryOpts"]["repo"] == "https://helm.elastic.co"
    eck = load_environment("prod", ROOT).logging.eck
    assert eck is not None and release["inputs"]["version"] == eck.operator_chart_version
    es = one(plan, ES)
    [node_set] = es["inputs"]["spec"]["nodeSets"]
    assert node_set["count"] == 3
    assert node_set["config"]["cluster.routing.allocation.awareness.attributes"] == "k8s_node_name,zone"
    assert node_set["config"]["node.attr.zone"] == "${ZONE}"
    assert es["inputs"]["metadata"]["annotations"] == {
        "eck.k8s.elastic.co/downward-node-labels": "topology.kubernetes.io/zone"
    }
    [spread] = node_set["podTemplate"]["spec"]["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["whenUnsatisfiable"]) == (
        "topology.kubernetes.io/zone",
        "DoNotSchedule",
    )
    [claim] = node_set["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "gp3-encrypted"
    assert claim["spec"]["resources"]["requests"]["storage"] == "500Gi"
    for kind in (ES, KIBANA, APM):
        resource = one(plan, kind)
        assert release["urn"] in resource["dependencies"], kind
        assert resource["inputs"]["spec"]["version"] == "9.1.2"
    for kind in (ES, KIBANA):
        assert one(plan, kind)["inputs"]["spec"]["http"]["tls"]["selfSignedCertificate"]["disabled"] is False
    assert es["protect"] is True
    assert one(plan, KIBANA)["inputs"]["spec"]["elasticsearchRef"] == {"name": "walletops"}


def test_dev_and_qa_run_one_node_without_awareness(plans: dict[str, Any]) -> None:
    for env in ("dev", "qa"):
        [node_set] = one(plans[env], ES)["inputs"]["spec"]["nodeSets"]
        assert node_set["count"] == 1, env
        assert "cluster.routing.allocation.awareness.attributes" not in node_set["config"]
    [stage] = one(plans["stage"], ES)["inputs"]["spec"]["nodeSets"]
    assert stage["count"] == 3


def test_the_elastic_password_is_a_pulumi_secret_in_a_kubernetes_secret(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    [secret] = [
        s
        for s in of_type(plan, "kubernetes:core/v1:Secret")
        if s["inputs"]["metadata"]["name"] == "walletops-es-elastic-user"
    ]
    assert secret["inputs"]["metadata"]["namespace"] == "observability"
    password = _named(plan, "random:index/randomPassword:RandomPassword", "elastic-password")
    assert password["urn"] in secret["dependencies"]
    assert secret["urn"] in one(plan, ES)["dependencies"]
    assert "elastic_password" in plan["outputs"]


def test_volumes_are_gp3_encrypted_with_the_ebs_key_through_the_csi_add_on(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    storage = one(plan, "kubernetes:storage.k8s.io/v1:StorageClass")["inputs"]
    assert storage["provisioner"] == "ebs.csi.aws.com"
    assert storage["parameters"]["encrypted"] == "true"
    assert storage["parameters"]["type"] == "gp3"
    assert storage["parameters"]["kmsKeyId"] == key_arn_of(plan, "ebs")
    assert storage["volumeBindingMode"] == "WaitForFirstConsumer" and storage["allowVolumeExpansion"] is True
    [addon] = [
        a for a in of_type(plan, "aws:eks/addon:Addon") if a["inputs"]["addonName"] == "aws-ebs-csi-driver"
    ]
    role = _named(plan, "aws:iam/role:Role", "ebs-csi-irsa")
    assert role["urn"] in addon["dependencies"]
    [statement] = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert (
        "system:serviceaccount:kube-system:ebs-csi-controller-sa"
        in statement["Condition"]["StringEquals"].values()
    )
    attachment = _named(plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ebs-csi-managed")
    assert attachment["inputs"]["policyArn"].endswith("service-role/AmazonEBSCSIDriverPolicy")
    kms = policy_of(_named(plan, "aws:iam/rolePolicy:RolePolicy", "ebs-csi-kms"))
    assert {s["Resource"] for s in kms["Statement"]} == {key_arn_of(plan, "ebs")}


def test_snapshots_go_to_a_private_encrypted_tls_only_bucket_through_irsa(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    bucket = _named(plan, "aws:s3/bucket:Bucket", "es-snapshots")
    name = bucket["inputs"]["bucket"]
    assert plan["outputs"]["observability"]["snapshot_bucket"] == name
    assert plan["outputs"]["observability"]["snapshot_repository"] == "walletops-snapshots"
    assert plan["outputs"]["observability"]["snapshot_region"] == "eu-west-1"
    block = _named(
        plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "es-snapshots-public-block"
    )
    assert all(block["inputs"][k] for k in ("blockPublicAcls", "blockPublicPolicy", "restrictPublicBuckets"))
    encryption = _named(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "es-snapshots-encryption",
    )
    default = encryption["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn_of(plan, "s3")}
    versioning = _named(plan, "aws:s3/bucketVersioning:BucketVersioning", "es-snapshots-versioning")
    assert versioning["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    lifecycle = _named(
        plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "es-snapshots-lifecycle"
    )
    [rule] = lifecycle["inputs"]["rules"]
    assert "expiration" not in rule, "S3 must never expire live snapshot files (SLM owns them)"
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    deny = policy_of(_named(plan, "aws:s3/bucketPolicy:BucketPolicy", "es-snapshots-tls-only"))["Statement"][
        0
    ]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    role = _named(plan, "aws:iam/role:Role", "es-snapshots-irsa")
    [trust] = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert "system:serviceaccount:observability:elasticsearch" in trust["Condition"]["StringEquals"].values()
    [account] = [
        a
        for a in of_type(plan, "kubernetes:core/v1:ServiceAccount")
        if a["inputs"]["metadata"]["name"] == "elasticsearch"
    ]
    assert account["inputs"]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        "es-snapshots-irsa"
    )
    access = policy_of(_named(plan, "aws:iam/rolePolicy:RolePolicy", "es-snapshots-access"))
    resources = {str(s["Resource"]) for s in access["Statement"]}
    assert f"arn:aws:s3:::{name}" in resources and f"arn:aws:s3:::{name}/*" in resources


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_snapshot_bucket_logs_its_requests_and_leaves_the_region_where_configured(
    plans: dict[str, Any], env: str
) -> None:
    """checkov CKV_AWS_18/144: server access logs to the audit access-log bucket (whose policy admits
    this bucket as a source) and, with ``logging.replica_region``, a twin in that region."""
    plan = plans[env]
    bucket = _named(plan, "aws:s3/bucket:Bucket", f"wallet-{env}-es-snapshots")
    logging = _named(plan, "aws:s3/bucketLogging:BucketLogging", "es-snapshots-access-logs")
    access_logs = next(
        b for b in of_type(plan, "aws:s3/bucket:Bucket") if "-s3-access-logs-" in b["inputs"]["bucket"]
    )
    assert logging["inputs"]["bucket"] == bucket["id"]
    assert logging["inputs"]["targetBucket"] == access_logs["id"]
    assert logging["inputs"]["targetPrefix"] == "es-snapshots/"
    policy = next(
        p
        for p in of_type(plan, "aws:s3/bucketPolicy:BucketPolicy")
        if p["name"].endswith("-access-logs-policy")
    )
    assert policy["urn"] in logging["dependencies"], "log delivery must be allowed before logging starts"
    rules = [
        r
        for r in of_type(plan, "aws:s3/bucketReplicationConfig:BucketReplicationConfig")
        if r["inputs"]["bucket"] == bucket["id"]
    ]
    if env == "dev":
        assert not rules, "dev sets no logging.replica_region"
        return
    [rule] = rules
    twin = _named(plan, "aws:s3/bucket:Bucket", "es-snapshots-replica")
    assert twin["inputs"]["bucket"] == f"wallet-{env}-es-snapshots-replica-{ACCOUNT_ID}-eu-central-1"
    assert rule["inputs"]["rules"][0]["destination"]["bucket"] == twin["outputs"]["arn"]
    twin_lifecycle = _named(
        plan,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "es-snapshots-replica-lifecycle",
    )
    assert "expiration" not in twin_lifecycle["inputs"]["rules"][0], "the copy keeps live snapshot files too"


def test_the_shipper_buffers_on_disk_and_routes_each_dataset_to_its_stream(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    daemonset = one(plan, "kubernetes:apps/v1:DaemonSet")
    assert daemonset["inputs"]["metadata"]["namespace"] == "observability"
    pod = daemonset["inputs"]["spec"]["template"]["spec"]
    paths = {v["name"]: v.get("hostPath", {}).get("path") for v in pod["volumes"]}
    assert paths["buffer"] == "/var/fluent-bit/state" and paths["varlog"] == "/var/log"
    [container] = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "env" not in container, "no secret reaches the shipper through its environment (CKV_K8S_35)"
    [volume] = [v for v in pod["volumes"] if v["name"] == "credentials"]
    assert volume["secret"]["secretName"] == "fluent-bit-credentials"  # pragma: allowlist secret
    assert volume["secret"]["items"] == [{"key": "credentials.conf", "path": "credentials.conf"}]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "credentials"]
    assert mount["readOnly"] is True
    [secret] = [
        s
        for s in of_type(plan, "kubernetes:core/v1:Secret")
        if s["inputs"]["metadata"]["name"] == "fluent-bit-credentials"
    ]
    assert secret["urn"] in daemonset["dependencies"]
    data = secret["inputs"]["stringData"]
    login = data.get("value", data)["credentials.conf"]  # a Pulumi secret in the plan: its value
    assert login.startswith("@SET ES_USER=walletops-shipper\n@SET ES_PASSWORD=") and login.count("\n") == 2
    assert pod["tolerations"] == [{"operator": "Exists"}]
    config = next(
        c
        for c in of_type(plan, "kubernetes:core/v1:ConfigMap")
        if c["inputs"]["metadata"]["name"] == "fluent-bit-config"
    )["inputs"]["data"]["fluent-bit.conf"]
    assert "storage.path      /var/fluent-bit/state/buffer" in config
    assert config.startswith(f"@INCLUDE {mount['mountPath']}/credentials.conf\n"), "variables set before use"
    assert config.count("HTTP_Passwd       ${ES_PASSWORD}") == 4
    assert config.count("storage.type      filesystem") == 2, "the service and the tail input buffer on disk"
    assert "Emitter_Storage.type filesystem" in config, "re-tagged lines are buffered on disk too"
    assert "Merge_Log         On" in config and "Name              kubernetes" in config
    for dataset in ("service", "audit", "access"):
        assert (
            f"Rule              $event['dataset'] ^walletops\\.{dataset}$ walletops.{dataset} false" in config
        )
        assert f"Index             logs-walletops.{dataset}-prod" in config
    assert config.count("Suppress_Type_Name On") == 4 and config.count("Write_Operation   create") == 4
    assert config.count("tls.verify        On") == 4
    assert "tls.ca_file       /fluent-bit/tls/ca.crt" in config


def test_network_policies_fence_the_stack(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    names = {
        (p["inputs"]["metadata"]["namespace"], p["inputs"]["metadata"]["name"]) for p in of_type(plan, NETPOL)
    }
    assert {("observability", "default-deny"), ("elastic-system", "default-deny")} <= names
    es = _policy(plan, "elasticsearch-allow")
    [http, _transport] = es["ingress"]
    assert http["ports"] == [{"port": 9200, "protocol": "TCP"}]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "fluent-bit"}}} in http["from"]
    apm = _policy(plan, "apm-server-allow")
    [ingress] = apm["ingress"]
    assert ingress["ports"] == [{"port": 8200, "protocol": "TCP"}]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "wallet"}}} in ingress[
        "from"
    ]
    kibana = _policy(plan, "kibana-allow")
    assert kibana["ingress"][0]["from"][0] == {"ipBlock": {"cidr": "10.40.0.0/16"}}
    shipper = _policy(plan, "fluent-bit-allow")
    assert {"port": 9200, "protocol": "TCP"} in shipper["egress"][1]["ports"]
    wallet = _policy(plan, "wallet-allow")
    assert any(
        rule["ports"] == [{"port": 8200, "protocol": "TCP"}]
        and rule["to"][0]["namespaceSelector"]["matchLabels"]
        == {"kubernetes.io/metadata.name": "observability"}
        for rule in wallet["egress"]
    )


def test_kibana_is_reachable_only_inside_the_vpc(plans: dict[str, Any]) -> None:
    service = one(plans["prod"], KIBANA)["inputs"]["spec"]["http"]["service"]
    assert service["spec"]["type"] == "LoadBalancer"
    assert (
        service["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-internal"] == "true"
    )
    assert (
        service["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"]
        == "internal"
    )
    assert one(plans["dev"], KIBANA)["inputs"]["spec"]["http"]["service"]["spec"]["type"] == "ClusterIP"


def test_services_get_the_apm_url_and_the_token_from_its_secret(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    [deployment] = [
        d
        for d in of_type(plan, "kubernetes:apps/v1:Deployment")
        if d["inputs"]["metadata"]["name"] == "wallet"
    ]
    env = {e["name"]: e for e in deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WALLETSTUB_APM_SERVER_URL"]["value"] == "https://walletops-apm-http.observability.svc:8200"
    [volume] = [
        v for v in deployment["inputs"]["spec"]["template"]["spec"]["volumes"] if v["name"] == "apm-token"
    ]
    assert volume["secret"]["secretName"] == "walletops-apm-token"  # pragma: allowlist secret
    assert volume["secret"]["items"][0]["key"] == "secret-token"
    assert env["WALLETSTUB_APM_SECRET_TOKEN_FILE"]["value"].endswith("/secret-token")
    copies = [
        s
        for s in of_type(plan, "kubernetes:core/v1:Secret")
        if s["inputs"]["metadata"]["name"] == "walletops-apm-token"
    ]
    assert sorted(s["inputs"]["metadata"]["namespace"] for s in copies) == ["observability", "wallet"]


def _apm_certificate(plan: dict[str, Any]) -> dict[str, Any]:
    [found] = [
        c for c in of_type(plan, CERTIFICATE) if c["inputs"]["metadata"]["namespace"] == "observability"
    ]
    return found


@pytest.mark.parametrize("env", ["dev", "qa", "stage", "prod"])
def test_apm_server_serves_a_certificate_of_the_private_ca(plans: dict[str, Any], env: str) -> None:
    plan = plans[env]
    certificate = _apm_certificate(plan)
    spec = certificate["inputs"]["spec"]
    assert spec["dnsNames"] == [
        "walletops-apm-http",
        "walletops-apm-http.observability",
        "walletops-apm-http.observability.svc",
        "walletops-apm-http.observability.svc.cluster.local",
    ]
    issuer = one(plan, PCA_ISSUER)
    assert spec["issuerRef"] == {
        "group": "awspca.cert-manager.io",
        "kind": "AWSPCAClusterIssuer",
        "name": issuer["inputs"]["metadata"]["name"],
    }
    assert issuer["urn"] in certificate["dependencies"]
    assert "server auth" in spec["usages"]
    apm = one(plan, APM)
    assert apm["inputs"]["spec"]["http"]["tls"] == {"certificate": {"secretName": spec["secretName"]}}
    assert certificate["urn"] in apm["dependencies"]
    url = apm_server_url(load_environment(env, ROOT))
    assert url is not None and url.removeprefix("https://").split(":")[0] in spec["dnsNames"]


def test_the_apm_certificate_is_counted_like_the_pods_certificates(plans: dict[str, Any]) -> None:
    """Priced per issued certificate when the catalog has the price, else listed unpriced with why."""
    report = estimate(PlanGraph.from_document({"format": 1, "environments": {"prod": plans["prod"]}}))
    env = report.environments["prod"]
    certificate = _apm_certificate(plans["prod"])
    pod_certificate = next(c for c in of_type(plans["prod"], CERTIFICATE) if c["urn"] != certificate["urn"])
    counted = {item.urn: f"priced as {item.usage_type}" for item in env.items} | {
        entry.urn: f"unpriced: {entry.reason}" for entry in env.unpriced
    }
    assert certificate["urn"] in counted
    assert counted[certificate["urn"]] == counted[pod_certificate["urn"]]


def test_services_verify_apm_server_with_the_ca_of_its_certificate(plans: dict[str, Any]) -> None:
    """Every pod that sends APM data mounts its own certificate's secret, whose ``ca.crt`` is the CA
    of the same issuer as APM Server's certificate, and names that file in WALLETSTUB_TLS_CA_FILE."""
    plan = plans["prod"]
    issuer_ref = _apm_certificate(plan)["inputs"]["spec"]["issuerRef"]
    certificates = {
        c["inputs"]["spec"]["secretName"]: c["inputs"]["spec"]["issuerRef"]
        for c in of_type(plan, CERTIFICATE)
    }
    deployments = [
        d
        for d in of_type(plan, "kubernetes:apps/v1:Deployment")
        if d["inputs"]["metadata"]["namespace"] == "wallet"
    ]
    assert len(deployments) >= 3
    for deployment in deployments:
        pod = deployment["inputs"]["spec"]["template"]["spec"]
        [container] = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env.get("WALLETSTUB_APM_SERVER_URL"), deployment["name"]
        ca_file = env["WALLETSTUB_TLS_CA_FILE"]
        assert env["WALLETSTUB_APM_CA_FILE"] == ca_file, "the agent verifies APM Server with the platform CA"
        directory, _, key = ca_file.rpartition("/")
        assert key == "ca.crt"
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
        [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        assert certificates[volume["secret"]["secretName"]] == issuer_ref, deployment["name"]


def test_each_alarm_watches_its_metric_and_notifies_the_alert_topic(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    topic = _named(plan, "aws:sns/topic:Topic", "budget-alerts")
    alarms = {a["name"].removeprefix("wallet-prod-alarm-"): a for a in of_type(plan, ALARM)}
    expected = {
        "rds-cpu": ("AWS/RDS", "CPUUtilization", 75),
        "rds-free-storage": ("AWS/RDS", "FreeStorageSpace", 50 * 1024**3),
        "rds-replica-lag": ("AWS/RDS", "ReplicaLag", 30),
        "cache-cpu-001": ("AWS/ElastiCache", "EngineCPUUtilization", 75),
        "cache-evictions-003": ("AWS/ElastiCache", "Evictions", 100),
        "nlb-unhealthy-wallet": ("AWS/NetworkELB", "UnHealthyHostCount", 1),
        "api-5xx": ("AWS/ApiGateway", "5XXError", 25),
        "api-latency-p99": ("AWS/ApiGateway", "Latency", 800),
        "waf-blocked": ("AWS/WAFV2", "BlockedRequests", 5000),
    }
    for label, (namespace, metric, threshold) in expected.items():
        inputs = alarms[label]["inputs"]
        assert (inputs["namespace"], inputs["metricName"], inputs["threshold"]) == (
            namespace,
            metric,
            threshold,
        )
        assert topic["urn"] in alarms[label]["dependencies"], label
        assert inputs["alarmActions"] == inputs["okActions"] and len(inputs["alarmActions"]) == 1
    assert alarms["api-latency-p99"]["inputs"]["extendedStatistic"] == "p99"
    assert alarms["cache-cpu-001"]["inputs"]["dimensions"]["CacheClusterId"] == "wallet-prod-cache-001"
    assert alarms["nlb-unhealthy-wallet"]["inputs"]["dimensions"]["TargetGroup"].startswith("targetgroup/")
    assert len([a for a in alarms if a.startswith("cache-cpu-")]) == 3
    assert alarms["waf-blocked"]["inputs"]["dimensions"] == {
        "WebACL": "wallet-prod-waf",
        "Region": "eu-west-1",
        "Rule": "ALL",
    }


@pytest.fixture(scope="module")
def mode_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """dev planned with ``logging.elastic`` external and with opensearch, each from a project copy."""
    opensearch = {"engine_version": "OpenSearch_2.19", "instance_type": "r6g.large.search"}
    modes: dict[str, dict[str, Any]] = {
        "external": {
            "elastic_endpoint": "https://logs.walletco.example:9243",
            "apm_endpoint": "https://apm.walletco.example",
        },
        "opensearch": {"opensearch": {**opensearch, "instance_count": 2, "volume_gb": 100}},
    }
    plans: dict[str, dict[str, Any]] = {}
    for mode, extra in modes.items():
        project = tmp_path_factory.mktemp(mode)
        for name in (*PROJECT_FILES, "cost/estimates.json"):
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_bytes((ROOT / name).read_bytes())
        path = project / "Pulumi.dev.yaml"
        document = yaml.safe_load(path.read_text())
        logging = document["config"]["walletops:logging"]
        logging.pop("eck")
        logging.update(elastic=mode, **extra)
        path.write_text(yaml.safe_dump(document))
        plans[mode] = plan_environments([load_environment("dev", project)], project)["dev"].to_document()
    return plans


def test_external_and_opensearch_modes_create_nothing_of_eck(mode_plans: dict[str, dict[str, Any]]) -> None:
    for mode, plan in mode_plans.items():
        for kind in ECK_TYPES:
            assert not of_type(plan, kind), (mode, kind)
        assert not eck_operator(plan), mode
        assert not [b for b in of_type(plan, "aws:s3/bucket:Bucket") if "es-snapshots" in b["name"]], mode
        assert len(of_type(plan, "kubernetes:apps/v1:DaemonSet")) == 1, "the shipper runs in every mode"
    assert not of_type(mode_plans["external"], "aws:opensearch/domain:Domain")


def test_external_mode_ships_to_the_configured_endpoint(mode_plans: dict[str, dict[str, Any]]) -> None:
    plan = mode_plans["external"]
    config = next(
        c
        for c in of_type(plan, "kubernetes:core/v1:ConfigMap")
        if c["inputs"]["metadata"]["name"] == "fluent-bit-config"
    )["inputs"]["data"]["fluent-bit.conf"]
    assert "Host              logs.walletco.example" in config and "Port              9243" in config
    assert "tls.ca_file" not in config
    assert config.startswith("@INCLUDE /fluent-bit/secrets/credentials.conf\n")
    pod = one(plan, "kubernetes:apps/v1:DaemonSet")["inputs"]["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "credentials"]
    # Operators create it, with the key credentials.conf.
    assert volume["secret"]["secretName"] == "elastic-shipper"  # pragma: allowlist secret
    [deployment] = [
        d
        for d in of_type(plan, "kubernetes:apps/v1:Deployment")
        if d["inputs"]["metadata"]["name"] == "wallet"
    ]
    env = {e["name"]: e for e in deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WALLETSTUB_APM_SERVER_URL"]["value"] == "https://apm.walletco.example"
    assert "WALLETSTUB_APM_CA_FILE" not in env, "an external APM Server has a public certificate"
    [volume] = [
        v for v in deployment["inputs"]["spec"]["template"]["spec"]["volumes"] if v["name"] == "apm-token"
    ]
    assert volume["secret"]["secretName"] == "walletops-apm-token"  # pragma: allowlist secret
    assert volume["secret"]["optional"] is True, "operators own it"
    assert not [
        s
        for s in of_type(plan, "kubernetes:core/v1:Secret")
        if s["inputs"]["metadata"]["name"] == "walletops-apm-token"
    ]
    wallet = _policy(plan, "wallet-allow")
    assert {
        "to": [
            {
                "ipBlock": {
                    "cidr": "0.0.0.0/0",
                    "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"],
                }
            }
        ],
        "ports": [{"port": 443, "protocol": "TCP"}],
    } in wallet["egress"]


def test_opensearch_mode_builds_a_private_encrypted_domain(mode_plans: dict[str, dict[str, Any]]) -> None:
    plan = mode_plans["opensearch"]
    domain = one(plan, "aws:opensearch/domain:Domain")["inputs"]
    assert domain["encryptAtRest"] == {"enabled": True, "kmsKeyId": key_arn_of(plan, "logs")}
    assert domain["nodeToNodeEncryption"] == {"enabled": True}
    assert domain["domainEndpointOptions"]["enforceHttps"] is True
    assert domain["domainEndpointOptions"]["tlsSecurityPolicy"].startswith("Policy-Min-TLS-1-2")
    assert domain["advancedSecurityOptions"]["enabled"] is True
    assert domain["advancedSecurityOptions"]["masterUserOptions"]["masterUserArn"].endswith(
        "opensearch-master"
    )
    assert domain["vpcOptions"]["subnetIds"] and domain["vpcOptions"]["securityGroupIds"]
    assert domain["clusterConfig"]["zoneAwarenessEnabled"] is False, "zone awareness is for prod"
    [deployment] = [
        d
        for d in of_type(plan, "kubernetes:apps/v1:Deployment")
        if d["inputs"]["metadata"]["name"] == "wallet"
    ]
    names = {e["name"] for e in deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert not names & {"WALLETSTUB_APM_SERVER_URL", "WALLETSTUB_APM_SECRET_TOKEN_FILE"}


def test_config_rejects_eck_on_ecs_and_a_thin_prod_cluster(project_copy: Callable[[], Path]) -> None:
    project = project_copy()
    path = project / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["walletops:logging"]["eck"]["elasticsearch_nodes"] = 1
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="elasticsearch_nodes is 1 in prod; allowed: 3 or more"):
        load_environment("prod", project)
    document["config"]["walletops:logging"]["eck"]["elasticsearch_nodes"] = 2
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="allowed: 1 \\(dev/qa\\) or 3 and more"):
        load_environment("prod", project)
    path = project / "Pulumi.qa.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["walletops:compute_engine"] = "ecs"
    document["config"]["walletops:loadtest"]["in_cluster"] = False
    del document["config"]["walletops:kubernetes"]
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(
        ConfigError, match="'eck' runs Elastic on the EKS cluster and needs compute_engine 'eks'"
    ):
        load_environment("qa", project)
    document["config"]["walletops:logging"]["elastic"] = "opensearch"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(
        ConfigError, match="the 'eck' section is required when elastic is 'eck' and allowed only then"
    ):
        load_environment("qa", project)


def test_plans_are_byte_identical_across_runs() -> None:
    """Passwords, tokens and the snapshot bucket name derive from URNs: two plans give the same bytes."""
    model = load_environment("dev", ROOT)
    first, second = (json.dumps(plan_environments([model]).to_document(), sort_keys=True) for _ in range(2))
    assert first == second
