"""The environment contract between the program and the images.

Every ``WALLETSTUB_*`` variable the program gives a container is one its service reads, and every
variable the service requires (read without a default) is given. What a service reads is taken from
its code: calls of ``env``/``env_int``/``env_float``/``env_bounded`` of ``walletstubs.common.settings`` with a
literal name, in ``walletstubs/common`` and in the service's own package.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from plan_helpers import of_type, workload_objects

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services-stub" / "walletstubs"
PREFIX = "WALLETSTUB_"
READERS = {"env", "env_int", "env_float", "env_bounded"}


def reads(package: str) -> tuple[set[str], set[str]]:
    """(every variable read, the required ones) by ``walletstubs.common`` and ``walletstubs.<package>``."""
    names: set[str] = set()
    required: set[str] = set()
    for path in [*(SERVICES / "common").rglob("*.py"), *(SERVICES / package).rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in READERS
            ):
                continue
            if (
                not node.args
                or not isinstance(node.args[0], ast.Constant)
                or not isinstance(node.args[0].value, str)
            ):
                continue
            name = PREFIX + node.args[0].value
            names.add(name)
            default = (
                node.args[1]
                if len(node.args) > 1
                else next((k.value for k in node.keywords if k.arg == "default"), None)
            )
            if default is None or (isinstance(default, ast.Constant) and default.value is None):
                required.add(name)
    return names, required


def package_of(service: str) -> str:
    return "exchange" if service.startswith("exchange-") else service


def test_the_scanner_sees_what_the_services_read() -> None:
    names, required = reads("roundups")
    assert {"WALLETSTUB_PORT", "WALLETSTUB_DATABASE_URL", "WALLETSTUB_WALLET_URL"} <= required
    assert "WALLETSTUB_CACHE_URL" in names - required


def _kubernetes_env(plan: dict[str, Any]) -> dict[str, set[str]]:
    given = {}
    for deployment in workload_objects(plan, "apps/v1:Deployment"):
        [container] = deployment["inputs"]["spec"]["template"]["spec"]["containers"]
        given[deployment["inputs"]["metadata"]["name"]] = {item["name"] for item in container["env"]}
    return given


def _ecs_env(plan: dict[str, Any]) -> dict[str, set[str]]:
    given = {}
    services = set(plan["outputs"]["services"])
    for task in of_type(plan, "aws:ecs/taskDefinition:TaskDefinition"):
        for container in json.loads(task["inputs"]["containerDefinitions"]):
            if container["name"] in services:
                given[container["name"]] = {item["name"] for item in container["environment"]} | {
                    item["name"] for item in container.get("secrets", [])
                }
    return given


@pytest.mark.parametrize("engine", ["eks", "ecs"])
def test_program_sets_exactly_what_each_image_reads(
    engine: str, plans: dict[str, Any], ecs_plan: dict[str, Any]
) -> None:
    given = _kubernetes_env(plans["prod"]) if engine == "eks" else _ecs_env(ecs_plan)
    assert set(given) == set((plans["prod"] if engine == "eks" else ecs_plan)["outputs"]["services"])
    for service, names in given.items():
        read, required = reads(package_of(service))
        ours = {name for name in names if name.startswith(PREFIX)}
        assert not ours - read, f"{service}: the image never reads {sorted(ours - read)}"
        assert not required - ours, f"{service}: the image requires {sorted(required - ours)}"
