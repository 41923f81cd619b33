"""``walletops plan``: the plan graph of one or all environments, produced offline under mocks."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from infra.config import load_all
from walletops.options import Env, Output, ProjectDir
from walletops.output import Format, console, err_console, to_json, write_text
from walletops.project import UsageProblem, expand_envs, resolve_project_dir


def build_plan(env: str, project_dir: Path | None) -> dict[str, Any]:
    """Validate the requested environments, then plan them (each in its own process)."""
    from infra.planner import plan_environments

    root = resolve_project_dir(project_dir)
    models = load_all(root, expand_envs(env))
    # No spinner: its thread could hold the stderr lock at fork time and hang a planning process.
    err_console.print(f"planning {', '.join(models)} under mocks", style="dim")
    return plan_environments(list(models.values()), root)


def load_plan(
    path: Path,
    option: str = "--plan",
    expected: str = "a plan (an 'environments' mapping, from walletops plan)",
) -> dict[str, Any]:
    """Read a saved plan JSON (``walletops plan --format json``) or another per-environment document
    (``expected`` says which), checking that it has an ``environments`` mapping."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageProblem(f"{option} {path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"{option} {path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(document, dict) or not isinstance(document.get("environments"), dict):
        raise UsageProblem(f"{option} {path}: not {expected}")
    return document


def component_of(resource: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> str:
    """The top-level walletops component a resource belongs to (its outermost walletops parent)."""
    component = "stack"
    parent = resource.get("parent")
    while parent and parent in by_urn:
        node = by_urn[parent]
        if node["type"].startswith("walletops:"):
            component = node["type"].split(":")[-1]
        parent = node.get("parent")
    if resource["type"].startswith("walletops:") and component == "stack":
        component = resource["type"].split(":")[-1]
    return component


def plan(
    env: Env = "all",
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """Run the Pulumi program under mocks and emit the plan graph (every resource with its inputs)."""
    if fmt not in (Format.table, Format.json):
        raise UsageProblem(f"--format {fmt.value}: allowed: table, json")
    document = build_plan(env, project_dir)
    if fmt is Format.json:
        write_text(to_json(document), output)
        return
    for name, env_plan in document["environments"].items():
        resources = env_plan["resources"]
        by_urn = {r["urn"]: r for r in resources}
        custom = [r for r in resources if r["custom"]]
        by_component = Counter(component_of(r, by_urn) for r in custom)
        by_type = Counter(r["type"] for r in custom)
        table = Table(title=f"{name}: {len(custom)} cloud resources in {len(by_component)} components")
        table.add_column("component")
        table.add_column("resources", justify="right")
        for component, count in sorted(by_component.items()):
            table.add_row(component, str(count))
        console.print(table)
        types = Table(title=f"{name}: resources by type")
        types.add_column("type")
        types.add_column("count", justify="right")
        for typ, count in sorted(by_type.items()):
            types.add_row(typ, str(count))
        console.print(types)
