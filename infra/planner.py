"""The offline planner: run the real Pulumi program under ``pulumi.runtime.set_mocks`` and record it.

The result is the *plan graph* (:class:`contracts.plan_graph.PlanGraph`), the contract between the
infra program and everything that analyses it (policy, cost, manifests, scanners, pipelines). Mocked
ids and ARNs are derived from the URN, so the same config always gives byte-identical JSON.

Mocks and Pulumi settings are process-global, so every environment is planned in its own forked
child process (started after the heavy SDK imports are done once in the parent): nothing leaks
from one environment into another, and two cores plan two environments at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import multiprocessing
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime import rpc
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import Stack, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from contracts.config import EnvironmentConfig
from contracts.plan_graph import PLAN_FORMAT, EnvironmentPlan, PlanGraph, PlanResource
from infra.program import PROJECT_DIR, build_environment

ACCOUNT_ID = "123456789012"
WARM_AWS: tuple[str, ...] = (
    "accessanalyzer",
    "acm",
    "acmpca",
    "apigateway",
    "appautoscaling",
    "autoscaling",
    "budgets",
    "cfg",
    "cloudtrail",
    "cloudwatch",
    "codebuild",
    "codeconnections",
    "cognito",
    "ebs",
    "ec2",
    "ecs",
    "eks",
    "elasticache",
    "guardduty",
    "iam",
    "kms",
    "lb",
    "opensearch",
    "networkfirewall",
    "rds",
    "route53",
    "s3",
    "secretsmanager",
    "securityhub",
    "sns",
    "vpc",
    "wafv2",
)
WARM_KUBERNETES: tuple[str, ...] = (
    "apiextensions",
    "apps.v1",
    "autoscaling.v2",
    "batch.v1",
    "core.v1",
    "helm.v3",
    "meta.v1",
    "networking.v1",
    "policy.v1",
    "rbac.v1",
    "storage.v1",
)
"""The SDK areas (and Kubernetes API versions) the program uses, loaded once in the parent before the
planning processes fork: loading them is most of a plan's time, and every child then starts with
them loaded. ``tests/infra/test_planner.py`` fails when the program starts using an area missing
here (it would still plan, only slower)."""


SERVICE_LINKED_ROLE_NAMES: dict[str, str] = {
    "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling",
    "config.amazonaws.com": "AWSServiceRoleForConfig",
}


def _digest(text: str, length: int = 17) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


class PlanMocks(pulumi_mocks.Mocks):
    """Deterministic, realistic provider answers: ids, ARNs, endpoints derived from the URN."""

    def __init__(self, region: str) -> None:
        self.region = region

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        seed = f"{args.typ}::{args.name}"
        rid = _resource_id(args.typ, seed)
        outputs = dict(args.inputs)
        service = args.typ.split(":")[1].split("/")[0] if args.typ.count(":") >= 2 else "pulumi"
        outputs.setdefault("name", f"{args.name}-{_digest(seed, 7)}")
        outputs.setdefault(
            "arn", f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{args.typ.split(':')[-1].lower()}/{rid}"
        )
        outputs.update(_computed(args.typ, args.name, rid, self.region, outputs))
        return rid, outputs

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":  # noqa: S105
            arn = f"arn:aws:iam::{ACCOUNT_ID}:user/planner"
            return {"accountId": ACCOUNT_ID, "arn": arn, "userId": "AIDAPLANNER", "id": ACCOUNT_ID}, []
        if token == "aws:index/getPartition:getPartition":  # noqa: S105
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if token == "aws:index/getRegion:getRegion":  # noqa: S105
            return {"name": self.region, "region": self.region, "id": self.region}, []
        return {}, []


def _resource_id(typ: str, seed: str) -> str:
    prefixes = {
        "aws:ec2/vpc:Vpc": "vpc-",
        "aws:ec2/subnet:Subnet": "subnet-",
        "aws:ec2/securityGroup:SecurityGroup": "sg-",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg-",
        "aws:ec2/natGateway:NatGateway": "nat-",
        "aws:ec2/internetGateway:InternetGateway": "igw-",
        "aws:ec2/routeTable:RouteTable": "rtb-",
        "aws:ec2/eip:Eip": "eipalloc-",
        "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
        "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
    }
    return prefixes.get(typ, "") + _digest(seed)


def _computed(typ: str, name: str, rid: str, region: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """Output properties a provider computes and the program reads back."""
    if typ == "aws:eks/cluster:Cluster":
        issuer = f"https://oidc.eks.{region}.amazonaws.com/id/{_digest(rid, 32).upper()}"
        return {
            "endpoint": f"https://{_digest(rid, 32).upper()}.gr7.{region}.eks.amazonaws.com",
            "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="},
            "identities": [{"oidcs": [{"issuer": issuer}]}],
            "vpcConfig": {
                **outputs.get("vpcConfig", {}),
                "clusterSecurityGroupId": f"sg-{_digest(rid + 'csg')}",
            },
        }
    if typ == "aws:eks/nodeGroup:NodeGroup":
        return {"resources": [{"autoscalingGroups": [{"name": f"eks-{name}-{_digest(rid, 12)}"}]}]}
    if typ == "aws:rds/instance:Instance":
        return {
            "address": f"{name}.{_digest(rid, 12)}.{region}.rds.amazonaws.com",
            "port": 5432,
            "resourceId": f"db-{_digest(rid, 26).upper()}",
            "masterUserSecrets": [
                {"secretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:rds!{rid}"}
            ],
        }
    if typ == "aws:elasticache/replicationGroup:ReplicationGroup":
        return {"primaryEndpointAddress": f"master.{name}.{_digest(rid, 6)}.euw1.cache.amazonaws.com"}
    if typ == "aws:lb/loadBalancer:LoadBalancer":
        return {
            "dnsName": f"{name}-{_digest(rid, 16)}.elb.{region}.amazonaws.com",
            "zoneId": f"Z{_digest(region, 13).upper()}",
        }
    if typ == "aws:apigateway/restApi:RestApi":
        return {
            "rootResourceId": _digest(rid + "root", 10),
            "executionArn": f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{rid[:10]}",
        }
    if typ == "aws:apigateway/stage:Stage":
        return {
            "invokeUrl": f"https://{rid[:10]}.execute-api.{region}.amazonaws.com/"
            f"{outputs.get('stageName', 'v1')}"
        }
    if typ == "aws:ec2/launchTemplate:LaunchTemplate":
        return {"latestVersion": 1, "defaultVersion": 1}
    if typ == "random:index/randomPassword:RandomPassword":
        return {"result": _digest(rid, 32)}
    if typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        url = str(outputs.get("url", "")).removeprefix("https://")
        return {"arn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{url}"}
    if typ == "aws:iam/role:Role":
        return {"arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{outputs.get('name')}"}
    if typ == "aws:iam/policy:Policy":
        return {"arn": f"arn:aws:iam::{ACCOUNT_ID}:policy/{outputs.get('name')}"}
    if typ == "aws:iam/serviceLinkedRole:ServiceLinkedRole":
        service = str(outputs.get("awsServiceName", ""))
        default = f"AWSServiceRoleFor{service.split('.', maxsplit=1)[0].title()}"
        role = SERVICE_LINKED_ROLE_NAMES.get(service, default)
        return {"arn": f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/{service}/{role}", "name": role}
    if typ == "aws:route53/zone:Zone":
        return {"zoneId": f"Z{_digest(rid, 20).upper()}"}
    if typ == "aws:networkfirewall/firewall:Firewall":
        attachments = [
            {"subnetId": m.get("subnetId"), "endpointId": f"vpce-{_digest(rid + str(m.get('subnetId')))}"}
            for m in outputs.get("subnetMappings") or []
        ]
        return {"firewallStatuses": [{"syncStates": [{"attachments": [a]} for a in attachments]}]}
    if typ == "aws:acm/certificate:Certificate" and outputs.get("validationMethod") == "DNS":
        domain = str(outputs.get("domainName", ""))
        return {
            "domainValidationOptions": [
                {
                    "domainName": domain,
                    "resourceRecordName": f"_{_digest(rid, 32)}.{domain}.",
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": f"_{_digest(rid + 'value', 32)}.acm-validations.aws.",
                }
            ]
        }
    if typ == "aws:kms/key:Key":
        return {"keyId": rid, "arn": f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{rid}"}
    return _arn(typ, rid, region, outputs)


def _arn(typ: str, rid: str, region: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """ARNs in the service's real format where a policy document names them, so scanners that know
    each action's resource format (parliament) judge the policy, not the mock."""
    name = outputs.get("name")
    if typ == "aws:cloudwatch/logGroup:LogGroup":
        return {"arn": f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{name}"}
    if typ == "aws:secretsmanager/secret:Secret":
        return {"arn": f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{name}-{rid[:6]}"}
    if typ == "aws:s3/bucket:Bucket":
        return {"arn": f"arn:aws:s3:::{outputs.get('bucket') or name}"}
    if typ == "aws:sns/topic:Topic":
        return {"arn": f"arn:aws:sns:{region}:{ACCOUNT_ID}:{name}"}
    if typ == "aws:acmpca/certificateAuthority:CertificateAuthority":
        hexed = _digest(rid, 32)
        uuid = "-".join((hexed[:8], hexed[8:12], hexed[12:16], hexed[16:20], hexed[20:]))
        return {"arn": f"arn:aws:acm-pca:{region}:{ACCOUNT_ID}:certificate-authority/{uuid}"}
    return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping what the engine would receive: parent, dependencies, protect."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.records: list[PlanResource] = []
        self.stack_outputs: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = _plain(rpc.deserialize_properties(request.object))
            record = PlanResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent or None,
                dependencies=sorted(set(request.dependencies)),
                provider=request.provider.split("::")[3] if request.provider else None,
                protect=bool(request.protect),
                inputs=inputs,
            )
            if request.custom and response.id:
                record["id"] = response.id
                outputs = _plain(rpc.deserialize_properties(response.object))
                computed = {key: value for key, value in outputs.items() if key not in inputs}
                if computed:
                    record["outputs"] = computed
            self.records.append(record)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
            self.stack_outputs = _plain(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


def _plain(value: Any) -> Any:
    """Wire numbers are doubles: show whole numbers as integers (``desiredSize: 2``, not ``2.0``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def plan_in_process(model: EnvironmentConfig, project_dir: Path = PROJECT_DIR) -> EnvironmentPlan:
    """Plan one environment in this process. Use :func:`plan_environments` unless already isolated."""
    _skip_source_positions()
    monitor = RecordingMonitor(PlanMocks(model.region))
    pulumi.runtime.set_mocks(
        monitor.mocks, project="walletops", stack=model.name, preview=False, monitor=monitor
    )
    stack = cast("Stack | None", pulumi.runtime.get_root_resource())

    def program() -> None:
        build_environment(model, project_dir)

    _sync_await(run_pulumi_func(program))
    if stack is not None:
        stack._outputs_registered = False  # set_mocks registered an empty stack before the program ran
        stack._finish()
        _sync_await(run_pulumi_func(lambda: None))
    return EnvironmentPlan(
        name=model.name,
        region=model.region,
        resources=sorted(monitor.records, key=lambda record: record["urn"]),
        outputs=monitor.stack_outputs,
    )


def _skip_source_positions() -> None:
    """Register resources without the caller's stack trace.

    The SDK captures one per resource (with every source line read through ``linecache``) so the
    engine can point diagnostics at the program's lines; the plan graph does not record them, and
    capturing them was a third of a plan's time. Only the planner's mocked runtime is changed.
    """
    runtime_resource._get_stack_trace = source_pb2.StackTrace


def _child(model: EnvironmentConfig, project_dir: Path, conn: Connection) -> None:
    """Body of a planning process: send back the plan as JSON, or the error as text."""
    asyncio.set_event_loop(asyncio.new_event_loop())  # never the parent's loop: its task state is not ours
    try:
        conn.send(("ok", json.dumps(plan_in_process(model, project_dir).to_document(), default=str)))
    except BaseException as exc:  # reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class PlanError(RuntimeError):
    """The program failed while being planned (its message names the environment)."""


def _warm_imports() -> None:
    names = [f"pulumi_aws.{area}" for area in WARM_AWS]
    names += [f"pulumi_kubernetes.{area}" for area in WARM_KUBERNETES]
    for name in names:
        getattr(importlib.import_module(name), "__all__", None)  # any attribute loads a lazy module


def plan_environments(
    models: list[EnvironmentConfig], project_dir: Path = PROJECT_DIR, processes: int = 2
) -> PlanGraph:
    """Plan each environment in a fresh forked process (``processes`` at a time); return the document."""
    _warm_imports()
    context = multiprocessing.get_context("fork")
    plans: dict[str, Any] = {}
    pending = list(models)
    running: list[tuple[EnvironmentConfig, Any, Connection]] = []
    while pending or running:
        while pending and len(running) < max(1, processes):
            model = pending.pop(0)
            parent_end, child_end = context.Pipe(duplex=False)
            process = context.Process(
                target=_child, args=(model, project_dir, child_end), name=f"plan-{model.name}"
            )
            process.start()
            child_end.close()
            running.append((model, process, parent_end))
        model, process, conn = running.pop(0)
        try:
            status, payload = conn.recv()
        except EOFError:
            status, payload = "error", f"planning process exited with code {process.exitcode}"
        process.join()
        if status != "ok":
            raise PlanError(f"planning {model.name} failed: {payload}")
        plans[model.name] = json.loads(payload)
    document = {"format": PLAN_FORMAT, "environments": {m.name: plans[m.name] for m in models}}
    return PlanGraph.from_document(document, "planner")
