"""Helpers of the infra tests: find resources in a plan, read their policies."""

from __future__ import annotations

import json
from typing import Any

Resource = dict[str, Any]


def of_type(plan: dict[str, Any], type_token: str) -> list[Resource]:
    """Resources of one Pulumi type in a plan."""
    return [resource for resource in plan["resources"] if resource["type"] == type_token]


def one(plan: dict[str, Any], type_token: str) -> Resource:
    found = of_type(plan, type_token)
    assert len(found) == 1, f"expected one {type_token}, found {len(found)}"
    return found[0]


def by_urn(plan: dict[str, Any]) -> dict[str, Resource]:
    return {resource["urn"]: resource for resource in plan["resources"]}


def key_arn_of(plan: dict[str, Any], data_class: str) -> str:
    """The (mocked) ARN of the KMS key of a data class, as other resources reference it."""
    from infra.planner import ACCOUNT_ID, PlanMocks

    key = next(r for r in of_type(plan, "aws:kms/key:Key") if r["name"].endswith(f"-kms-{data_class}"))
    rid = PlanMocks(plan["region"]).new_resource(_mock_args(key))[0]
    return f"arn:aws:kms:{plan['region']}:{ACCOUNT_ID}:key/{rid}"


def mock_arn(plan: dict[str, Any], resource: Resource) -> str:
    """The (mocked) ARN other resources see for ``resource``: the one the plan graph recorded."""
    from infra.planner import PlanMocks

    recorded = resource.get("outputs", {}).get("arn")
    if recorded:
        return str(recorded)
    return str(PlanMocks(plan["region"]).new_resource(_mock_args(resource))[1]["arn"])


def _mock_args(resource: Resource) -> Any:
    from pulumi.runtime.mocks import MockResourceArgs

    return MockResourceArgs(typ=resource["type"], name=resource["name"], inputs={})


def policy_of(resource: Resource, key: str = "policy") -> dict[str, Any]:
    document: dict[str, Any] = json.loads(resource["inputs"][key])
    return document


def workload_objects(plan: dict[str, Any], kind: str, namespace: str = "wallet") -> list[Resource]:
    """Kubernetes objects of one kind (e.g. ``apps/v1:Deployment``) in the services' namespace."""
    return [
        r
        for r in of_type(plan, f"kubernetes:{kind}")
        if r["inputs"]["metadata"].get("namespace") == namespace
    ]
