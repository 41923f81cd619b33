"""Hand-written plan fragments in the shape of ``walletops plan --format json`` (format 1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.config import UsageConfig
from contracts.plan_graph import PlanGraph
from cost.catalog import Catalog
from cost.estimator import CostReport, estimate

STACK = "urn:pulumi:{env}::walletops::pulumi:pulumi:Stack::walletops-{env}"


def urn(env: str, typ: str, name: str, parents: tuple[str, ...] = ()) -> str:
    chain = "$".join((*parents, typ))
    return f"urn:pulumi:{env}::walletops::{chain}::{name}"


def resource(
    env: str,
    typ: str,
    name: str,
    inputs: dict[str, Any] | None = None,
    *,
    parent: str | None = None,
    dependencies: list[str] | None = None,
    custom: bool = True,
) -> dict[str, Any]:
    return {
        "urn": urn(env, typ, name),
        "type": typ,
        "name": name,
        "custom": custom,
        "parent": parent,
        "dependencies": dependencies or [],
        "provider": None,
        "protect": False,
        "inputs": inputs or {},
    }


def small_plan(env: str = "dev", multi_az: bool = False) -> dict[str, Any]:
    """One EKS cluster, one node group with a launch template, one NAT, one RDS instance, one odd type."""
    network = resource(env, "walletops:network:Network", "network", custom=False)
    compute = resource(env, "walletops:compute:Compute", "compute", custom=False)
    data = resource(env, "walletops:data:Data", "data", custom=False)
    template = resource(
        env,
        "aws:ec2/launchTemplate:LaunchTemplate",
        "nodes-lt",
        {
            "blockDeviceMappings": [
                {"deviceName": "/dev/xvda", "ebs": {"volumeSize": 50, "volumeType": "gp3"}}
            ]
        },
        parent=compute["urn"],
    )
    resources = [
        network,
        compute,
        data,
        resource(env, "aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.10.0.0/16"}, parent=network["urn"]),
        resource(
            env, "aws:ec2/natGateway:NatGateway", "nat-a", {"subnetId": "subnet-1"}, parent=network["urn"]
        ),
        resource(
            env,
            "aws:eks/cluster:Cluster",
            "cluster",
            {"upgradePolicy": {"supportType": "STANDARD"}, "version": "1.33"},
            parent=compute["urn"],
        ),
        template,
        resource(
            env,
            "aws:eks/nodeGroup:NodeGroup",
            "general",
            {
                "instanceTypes": ["t3.large"],
                "capacityType": "ON_DEMAND",
                "scalingConfig": {"desiredSize": 2, "minSize": 2, "maxSize": 4},
                "launchTemplate": {"id": "lt-1", "version": "1"},
            },
            parent=compute["urn"],
            dependencies=[template["urn"]],
        ),
        resource(
            env,
            "aws:rds/instance:Instance",
            "ledger",
            {
                "engine": "postgres",
                "instanceClass": "db.t4g.medium",
                "multiAz": multi_az,
                "allocatedStorage": 20,
                "storageType": "gp3",
                "backupRetentionPeriod": 7,
            },
            parent=data["urn"],
        ),
        resource(env, "aws:iam/role:Role", "node-role", parent=compute["urn"]),
        resource(env, "aws:ec2/transitGateway:TransitGateway", "tgw", parent=network["urn"]),
        resource(env, "kubernetes:core/v1:Namespace", "wallet", parent=compute["urn"]),
    ]
    return {
        "format": 1,
        "environments": {env: {"region": "eu-west-1", "resources": resources, "outputs": {}}},
    }


def price(
    document: dict[str, Any],
    usage: Mapping[str, UsageConfig] | None = None,
    catalog: Catalog | None = None,
) -> CostReport:
    """Estimate a hand-written plan document (checked as a plan graph first)."""
    return estimate(PlanGraph.from_document(document), usage, catalog)
