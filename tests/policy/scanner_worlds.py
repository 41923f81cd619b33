"""Small plan graphs for the scanner tests: a compliant resource or manifest and its planted flaw."""

from __future__ import annotations

import json
from typing import Any

from contracts.plan_graph import EnvironmentPlan, PlanGraph

ENV = "dev"
ACCOUNT = "123456789012"


def resource(typ: str, name: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A plan-graph record of a cloud resource (mocked id and computed outputs optional)."""
    return {
        "urn": f"urn:pulumi:{ENV}::walletops::{typ}::{name}",
        "type": typ,
        "name": name,
        "custom": True,
        "parent": None,
        "dependencies": extra.pop("dependencies", []),
        "provider": None,
        "protect": False,
        "inputs": inputs,
        **extra,
    }


def graph(*resources: dict[str, Any]) -> PlanGraph:
    return PlanGraph({ENV: EnvironmentPlan(ENV, "eu-west-1", list(resources))})


def database(**overrides: Any) -> dict[str, Any]:
    inputs = {
        "identifier": "ledger",
        "engine": "postgres",
        "engineVersion": "16.4",
        "instanceClass": "db.t4g.micro",
        "allocatedStorage": 20,
        "storageEncrypted": True,
        "publiclyAccessible": False,
        "deletionProtection": True,
        **overrides,
    }
    return resource("aws:rds/instance:Instance", "ledger", inputs)


def role_policy(*actions: str, resource_arn: str = "*") -> dict[str, Any]:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource_arn}],
    }
    return resource(
        "aws:iam/rolePolicy:RolePolicy", "app-permissions", {"policy": json.dumps(document), "role": "app"}
    )


def deployment(**container: Any) -> dict[str, Any]:
    spec = {
        "name": "app",
        "image": "registry.example/app@sha256:" + "a" * 64,
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
        **container,
    }
    inputs = {
        "metadata": {"name": "app", "namespace": "wallet"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "app"}},
            "template": {"metadata": {"labels": {"app": "app"}}, "spec": {"containers": [spec]}},
        },
    }
    return resource("kubernetes:apps/v1:Deployment", "app", inputs)
