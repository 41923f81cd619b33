"""The Terraform-plan export: every resource type the program creates, the mapping, links, secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from contracts.plan_graph import EnvironmentPlan, PlanGraph
from infra.policy.terraform_plan import (
    SECRET_KEY,
    SECRET_SIGNATURE,
    SENSITIVE,
    export_environment,
    load_extract,
    snake,
)

ACCOUNT = "123456789012"


def _changes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {change["address"]: change for change in document["resource_changes"]}


def _config(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["address"]: entry for entry in document["configuration"]["root_module"]["resources"]}


def test_the_extract_is_for_the_pinned_pulumi_aws_and_names_its_source() -> None:
    extract = load_extract()
    assert extract.pulumi_aws_version == version("pulumi-aws"), (
        "pulumi-aws moved: regenerate infra/policy/data/pulumi-aws-bridge.json for the new pin"
    )
    source = extract.document["source"]
    assert source["repository"] == "https://github.com/pulumi/pulumi-aws"
    assert source["path"] == "provider/cmd/pulumi-resource-aws/bridge-metadata.json"
    assert len(source["commit"]) == 40


def test_every_aws_type_the_program_creates_is_exported(real_plan: PlanGraph) -> None:
    extract = load_extract()
    for env in real_plan:
        types = {r["type"] for r in env.resources if r["type"].startswith("aws:")}
        missing = sorted(t for t in types if extract.terraform_type(t) is None)
        assert not missing, f"add these types to the bridge extract: {missing}"
        document = export_environment(env)
        exported = {c["type"] for c in document["resource_changes"]}
        assert exported == {extract.terraform_type(t) for t in types}
        assert len(document["resource_changes"]) == len([r for r in env.resources if r["type"] in types])


def test_type_tokens_that_break_a_naive_rule_map_to_their_terraform_twins() -> None:
    extract = load_extract()
    assert extract.terraform_type("aws:ec2/vpc:Vpc") == "aws_vpc"
    assert extract.terraform_type("aws:rds/instance:Instance") == "aws_db_instance"
    assert extract.terraform_type("aws:apigateway/restApi:RestApi") == "aws_api_gateway_rest_api"
    assert extract.terraform_type("aws:s3/bucket:Bucket") == "aws_s3_bucket"
    assert extract.terraform_type("aws:ec2/flowLog:FlowLog") == "aws_flow_log"
    assert extract.terraform_type("aws:cloudtrail/trail:Trail") == "aws_cloudtrail"


def test_renamed_and_pluralised_properties_follow_the_bridge_metadata(real_plan: PlanGraph) -> None:
    document = export_environment(real_plan["prod"])
    by_type: dict[str, list[dict[str, Any]]] = {}
    for change in document["resource_changes"]:
        by_type.setdefault(change["type"], []).append(change["change"]["after"])
    acl = by_type["aws_wafv2_web_acl"][0]
    assert "rule" in acl and "rules" not in acl, "Pulumi pluralises the rule blocks, Terraform does not"
    statement = acl["rule"][0]["statement"][0]
    assert isinstance(statement, dict) and statement
    budget = by_type["aws_budgets_budget"][0]
    assert "notification" in budget and "cost_filter" in budget
    logging = by_type["aws_wafv2_web_acl_logging_configuration"][0]
    assert "redacted_fields" in logging, "this one Terraform keeps plural"
    link = by_type["aws_api_gateway_vpc_link"][0]
    assert isinstance(link.get("target_arns"), list | type(None))
    assert all("rest_api" not in after for after in by_type["aws_api_gateway_method"])
    assert snake("ipv6CidrBlock") == "ipv6_cidr_block"


def test_maps_keep_their_keys_and_single_blocks_become_lists_of_one(real_plan: PlanGraph) -> None:
    document = export_environment(real_plan["prod"])
    vpc = next(c["change"]["after"] for c in document["resource_changes"] if c["type"] == "aws_vpc")
    assert vpc["tags"]["environment"] == "prod" and vpc["tags"]["data-classification"]
    cluster = next(
        c["change"]["after"] for c in document["resource_changes"] if c["type"] == "aws_eks_cluster"
    )
    assert isinstance(cluster["vpc_config"], list) and len(cluster["vpc_config"]) == 1
    assert cluster["vpc_config"][0]["endpoint_public_access"] is False
    sse = next(
        c["change"]["after"]
        for c in document["resource_changes"]
        if c["type"] == "aws_s3_bucket_server_side_encryption_configuration"
    )
    assert sse["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"


def test_dependency_outputs_become_unknown_values_with_terraform_references(real_plan: PlanGraph) -> None:
    document = export_environment(real_plan["prod"])
    changes, config = _changes(document), _config(document)
    db = next(a for a in changes if a.startswith("aws_db_instance."))
    assert "kms_key_id" not in changes[db]["change"]["after"]
    assert changes[db]["change"]["after_unknown"]["kms_key_id"] is True
    reference = config[db]["expressions"]["kms_key_id"]["references"]
    assert reference[0].startswith("aws_kms_key.") and reference[0].endswith(".arn")
    assert reference[1] in changes, "the reference names an exported resource"
    sse = next(a for a in changes if a.startswith("aws_s3_bucket_server_side_encryption_configuration."))
    bucket_ref = config[sse]["expressions"]["bucket"]["references"]
    assert bucket_ref[0].startswith("aws_s3_bucket.") and bucket_ref[0].endswith(".id")
    subnet_group = next(a for a in changes if a.startswith("aws_db_subnet_group."))
    ids = changes[subnet_group]["change"]
    assert ids["after"]["subnet_ids"] == [None] * len(ids["after"]["subnet_ids"])
    assert all(ids["after_unknown"]["subnet_ids"])
    assert changes[db]["change"]["after_unknown"]["arn"] is True, "the resource's own outputs are unknown"


def test_ordering_only_dependencies_become_depends_on(real_plan: PlanGraph) -> None:
    config = _config(export_environment(real_plan["prod"]))
    deployment = next(e for a, e in config.items() if a.startswith("aws_api_gateway_deployment."))
    assert deployment["depends_on"] and all(a in config for a in deployment["depends_on"])


def _secret(value: str) -> dict[str, str]:
    return {SECRET_KEY: SECRET_SIGNATURE, "value": value}


def _env(*resources: dict[str, Any]) -> EnvironmentPlan:
    return EnvironmentPlan("dev", "eu-west-1", list(resources))


def _resource(typ: str, name: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:dev::walletops::{typ}::{name}",
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


def test_secrets_are_present_but_never_written() -> None:
    token = "aws:elasticache/replicationGroup:ReplicationGroup"
    cache = _resource(token, "cache", {"authToken": _secret("hunter2-very-secret"), "description": "c"})
    text = json.dumps(export_environment(_env(cache)))
    assert "hunter2-very-secret" not in text
    change = export_environment(_env(cache))["resource_changes"][0]["change"]
    assert change["after"]["auth_token"] == SENSITIVE
    assert change["after_sensitive"]["auth_token"] is True


def test_an_object_the_extract_does_not_describe_is_refused() -> None:
    vpc = _resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16", "mystery": {"a": 1}})
    with pytest.raises(Exception, match="mystery"):
        export_environment(_env(vpc))


def test_embedded_outputs_keep_the_value_and_add_a_reference() -> None:
    key = _resource(
        "aws:kms/key:Key",
        "key",
        {"description": "k"},
        id="k1234567",
        outputs={"arn": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k1234567"},
    )
    policy = json.dumps({"Statement": [{"Action": "kms:Decrypt", "Resource": key["outputs"]["arn"]}]})
    role_policy = _resource(
        "aws:iam/rolePolicy:RolePolicy", "use-key", {"policy": policy, "role": "r"}, dependencies=[key["urn"]]
    )
    document = export_environment(_env(key, role_policy))
    after = _changes(document)["aws_iam_role_policy.use-key"]["change"]["after"]
    assert after["policy"] == policy
    assert _config(document)["aws_iam_role_policy.use-key"]["expressions"]["policy"]["references"] == [
        "aws_kms_key.key.arn",
        "aws_kms_key.key",
    ]


def _walletops(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("walletops")), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_cli_writes_the_terraform_plan_of_an_environment(tmp_path: Path, project_dir: Path) -> None:
    out = tmp_path / "dev.tfplan.json"
    result = _walletops(
        "plan",
        "--env",
        "dev",
        "--format",
        "terraform-plan",
        "--output",
        str(out),
        "--project-dir",
        str(project_dir),
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["terraform_version"] and document["variables"]["environment"]["value"] == "dev"
    refused = _walletops(
        "plan", "--env", "all", "--format", "terraform-plan", "--project-dir", str(project_dir)
    )
    assert refused.returncode == 2 and "--output" in refused.stderr
