"""CrossGuard adapters (infra/policy/pack.py) run the same rule functions as walletops policy."""

from __future__ import annotations

import ast
import select
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from policy_world import BREAKAGES, TODAY, compliant_world, find
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from infra.policy import publish
from infra.policy.model import Severity, all_rules
from infra.policy.pack import PACK_NAME, build_policies, env_of

PACK_DIR = Path(__file__).resolve().parents[2] / "infra" / "policy" / "crossguard"


def _policy_resources(world: list[dict[str, Any]]) -> list[PolicyResource]:
    made: dict[str, PolicyResource] = {}
    for item in world:
        made[item["urn"]] = PolicyResource(
            item["type"],
            item["inputs"],
            item["urn"],
            item["name"],
            None,
            None,
            None,
            [],
            {},
        )
    for item in world:
        made[item["urn"]].dependencies = [made[d] for d in item["dependencies"] if d in made]
    return list(made.values())


def _stack_violations(
    policy: StackValidationPolicy, world: list[dict[str, Any]]
) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    policy.validate(
        StackValidationArgs(_policy_resources(world)), lambda message, urn=None: found.append((message, urn))
    )
    return found


def _resource_violations(policy: ResourceValidationPolicy, world: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for item in world:
        args = ResourceValidationArgs(item["type"], item["inputs"], item["urn"], item["name"], None, None)
        policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def _violations(policy: Any, world: list[dict[str, Any]]) -> list[str]:
    if isinstance(policy, StackValidationPolicy):
        return [message for message, _urn in _stack_violations(policy, world)]
    return _resource_violations(policy, world)


def test_builds_one_policy_per_rule_plus_waiver_policies_without_a_server() -> None:
    policies = build_policies(None, TODAY)
    names = [p.name for p in policies]
    assert names[:-2] == [rule.id for rule in all_rules()]
    assert names[-2:] == ["walletops-waived-findings", "walletops-waivers-valid"]
    by_id = {rule.id: rule for rule in all_rules()}
    for policy in policies[:-2]:
        expected = (
            EnforcementLevel.MANDATORY
            if by_id[policy.name].severity is Severity.mandatory
            else EnforcementLevel.ADVISORY
        )
        assert policy.enforcement_level is expected
        graph = by_id[policy.name].graph or by_id[policy.name].scope == "stack"
        assert isinstance(policy, StackValidationPolicy if graph else ResourceValidationPolicy)


def test_each_policy_is_silent_on_the_compliant_world_and_bites_on_its_breakage() -> None:
    for policy in build_policies(None, TODAY)[:-2]:
        assert _violations(policy, compliant_world()) == [], policy.name
        world = compliant_world()
        BREAKAGES[policy.name](world)
        violations = _violations(policy, world)
        assert violations and all(v.startswith(f"[{policy.name}]") for v in violations), policy.name


def test_waived_findings_move_to_the_advisory_waiver_policy(tmp_path: Path) -> None:
    (tmp_path / "policy-waivers.yaml").write_text(
        yaml.safe_dump(
            {
                "waivers": [
                    {
                        "rule": "WO-RDS-002",
                        "resource": "ledger",
                        "env": "prod",
                        "reason": "temporary migration window from the old datacentre",
                        "approved_by": "security-team",
                        "expires": date(2027, 1, 31),
                    }
                ]
            }
        )
    )
    policies = {p.name: p for p in build_policies(tmp_path, TODAY)}
    world = compliant_world()
    BREAKAGES["WO-RDS-002"](world)
    assert _violations(policies["WO-RDS-002"], world) == []
    [(message, urn)] = _stack_violations(policies["walletops-waived-findings"], world)
    assert "WAIVED until 2027-01-31" in message and urn == find(world, "ledger")["urn"]
    assert _stack_violations(policies["walletops-waivers-valid"], world) == []
    late = {p.name: p for p in build_policies(tmp_path, date(2027, 2, 1))}
    assert _violations(late["WO-RDS-002"], world)
    assert "expired" in _stack_violations(late["walletops-waivers-valid"], world)[0][0]


def test_pack_files_name_the_pack_and_main_builds_from_the_same_builder() -> None:
    spec = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert spec["runtime"]["name"] == "python"
    main = ast.parse((PACK_DIR / "__main__.py").read_text())
    calls = {
        node.func.id
        for node in ast.walk(main)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert {"PolicyPack", "build_policies"} <= calls
    assert PACK_NAME == "walletops-guardrails"


def test_environment_comes_from_the_urn_stack() -> None:
    assert env_of("urn:pulumi:stage::walletops::aws:s3/bucket:Bucket::archive") == "stage"


BLOCKER = """
import sys
REPO = {repo!r}
sys.path[:] = [p for p in sys.path if p.rstrip("/") not in (REPO, REPO + "/services-stub")]


class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {{"infra", "contracts", "walletops", "cost", "loadtests", "walletstubs"}}:
            raise ImportError(f"the pack imported the repository's {{name}}")


sys.meta_path.insert(0, Block())
"""


def test_a_copy_of_the_pack_folder_alone_serves_the_pack(tmp_path: Path) -> None:
    """What ``pulumi preview --policy-pack DIR`` does with a copy of the folder: ``python -m pulumi.policy
    <engine> DIR`` from DIR. The repository is taken off ``sys.path`` and its packages are blocked, so
    the pack can only use its own folder and what ``requirements.txt`` installs."""
    pack = tmp_path / "walletops-guardrails"
    shutil.copytree(PACK_DIR, pack, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER.format(repo=str(PACK_DIR.parents[2])))
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(pack)],
        cwd=pack,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(blocker), "HOME": str(tmp_path)},
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the pack printed no port within 60 s"
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit() and int(port) > 0, (port, process.stderr.read() if process.poll() else "")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_pack_requirements_pin_the_locked_versions() -> None:
    lock = (PACK_DIR.parents[2] / "requirements.lock").read_text()
    pins = [
        line.split("#")[0].strip()
        for line in (PACK_DIR / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert {pin.split("==")[0] for pin in pins} >= {"pulumi-policy", "pydantic", "pyyaml"}
    assert [pin for pin in pins if f"\n{pin} " not in lock] == []
    spec = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert spec["runtime"]["options"]["virtualenv"] == "venv"  # inside the pack, never the repo's .venv


def test_the_packs_copy_of_rules_waivers_and_configs_is_current() -> None:
    stale = publish.drift(PACK_DIR.parents[2])
    assert stale == [], f"run `walletops policy-pack`: {stale}"


def test_the_copy_is_regenerated_with_renamed_imports(tmp_path: Path) -> None:
    assert publish.rewrite("from infra.policy.model import Rule\nimport contracts.config\n") == (
        "from walletops_guardrails.policy.model import Rule\nimport walletops_guardrails.contracts.config\n"
    )
    assert publish.rewrite("from infra.audit import x  # infra.policy stays in text") == (
        "from infra.audit import x  # infra.policy stays in text"
    )
    changed = publish.write(PACK_DIR.parents[2], tmp_path)
    assert "walletops_guardrails/policy/rules/kms.py" in changed
    assert publish.drift(PACK_DIR.parents[2], tmp_path) == []
    (tmp_path / "walletops_guardrails" / "policy" / "extra.py").write_text("")
    assert publish.drift(PACK_DIR.parents[2], tmp_path) == ["walletops_guardrails/policy/extra.py"]


def test_preview_unknowns_only_stop_the_policies_that_read_them() -> None:
    """During preview the SDK proxies props; an unknown raises only when a rule reads it."""
    policies = {p.name: p for p in build_policies(None, TODAY)}
    ledger = find(compliant_world(), "ledger")
    props = dict(ledger["inputs"]) | {
        "kmsKeyId": UNKNOWN_STRING_VALUE,
        "dbSubnetGroupName": UNKNOWN_STRING_VALUE,
    }
    found: list[str] = []

    def run(name: str) -> None:
        args = ResourceValidationArgs(
            ledger["type"], unknown_checking_proxy(props), ledger["urn"], "ledger", None, None
        )
        policies[name].validate(args, lambda message, urn=None: found.append(message))

    run("WO-RDS-002")
    run("WO-RDS-006")
    assert found == []
    with pytest.raises(UnknownValueError):
        run("WO-RDS-001")
