"""The offline planner: the documented shape, byte-identical output, no state shared between plans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from contracts.plan_graph import PLAN_FORMAT

ROOT = Path(__file__).resolve().parents[2]
RECORD_KEYS = {"urn", "type", "name", "custom", "parent", "dependencies", "provider", "protect", "inputs"}
CLOUD_KEYS = {"id", "outputs"}


def test_every_record_has_the_documented_shape(plans: dict[str, Any]) -> None:
    for env, plan in plans.items():
        assert plan["region"] == "eu-west-1"
        urns = [r["urn"] for r in plan["resources"]]
        assert urns == sorted(urns) and len(set(urns)) == len(urns)
        for record in plan["resources"]:
            assert RECORD_KEYS <= set(record) <= RECORD_KEYS | CLOUD_KEYS
            assert ("id" in record) == record["custom"], record["urn"]
            assert record["urn"].startswith(f"urn:pulumi:{env}::walletops::")
            assert record["parent"] is None or record["parent"].startswith("urn:pulumi:")
            assert all(dep in urns for dep in record["dependencies"])


def test_inputs_use_provider_camel_case_names(plans: dict[str, Any]) -> None:
    db = next(r for r in plans["dev"]["resources"] if r["type"] == "aws:rds/instance:Instance")
    assert "storageEncrypted" in db["inputs"] and "storage_encrypted" not in db["inputs"]
    assert isinstance(db["inputs"]["allocatedStorage"], int)


def test_cloud_resources_carry_their_mocked_id_and_computed_outputs(plans: dict[str, Any]) -> None:
    resources = plans["prod"]["resources"]
    key = next(r for r in resources if r["type"] == "aws:kms/key:Key")
    assert key["outputs"]["arn"] == f"arn:aws:kms:eu-west-1:123456789012:key/{key['id']}"
    assert not set(key["outputs"]) & set(key["inputs"]), "outputs hold only what the provider adds"
    db = next(r for r in resources if r["type"] == "aws:rds/instance:Instance")
    assert db["inputs"]["kmsKeyId"] in {k["outputs"]["arn"] for k in resources if k["type"] == key["type"]}


def test_environments_do_not_leak_into_each_other(plans: dict[str, Any]) -> None:
    for env, plan in plans.items():
        tagged = [r["inputs"]["tags"] for r in plan["resources"] if isinstance(r["inputs"].get("tags"), dict)]
        assert tagged and {tags["environment"] for tags in tagged} == {env}


def test_cli_plan_json_is_byte_identical_across_runs(tmp_path: Path) -> None:
    outputs = []
    for run in range(2):
        target = tmp_path / f"plan-{run}.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "walletops",
                "plan",
                "--env",
                "qa",
                "--format",
                "json",
                "--output",
                str(target),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=180,
        )
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
    document = json.loads(outputs[0])
    assert document["format"] == PLAN_FORMAT and list(document["environments"]) == ["qa"]


def test_cli_plan_table_counts_by_component_and_type() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "walletops", "plan", "--env", "dev"],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    assert "dev:" in result.stdout and "components" in result.stdout
    assert "aws:rds/instance:Instance" in result.stdout and "Workloads" in result.stdout


WARM_CHECK = """
import json, sys
from pathlib import Path
from pulumi._utils import _LazyModule
from contracts.config import load_environment
from infra import planner
planner._warm_imports()
before = set(sys.modules)
for env in ("stage", "prod"):
    planner.plan_in_process(load_environment(env, Path(sys.argv[1])))
loaded = [
    name for name in set(sys.modules) - before
    if name.startswith(("pulumi_aws", "pulumi_kubernetes"))
    and not isinstance(sys.modules[name], _LazyModule)  # a placeholder, never executed
]
print(json.dumps(sorted(loaded)))
"""


def test_the_parent_loads_every_sdk_module_the_program_uses() -> None:
    """After ``_warm_imports`` the program loads no SDK module of its own (each child would load it
    again, once per environment); a new area the program starts using must join the warm lists."""
    result = subprocess.run(
        [sys.executable, "-c", WARM_CHECK, str(ROOT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    assert json.loads(result.stdout.splitlines()[-1]) == []
