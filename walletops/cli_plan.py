"""``walletops plan``: the plan graph of one or all environments, produced offline under mocks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from contracts.errors import UsageProblem
from contracts.output import Format, console, err_console, write_text
from contracts.plan_graph import PlanGraph, write_plan
from walletops.options import Env, Output, ProjectDir
from walletops.orchestration import build_plan


def plan(
    env: Env = "all",
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            "-f",
            help="table, json (the plan graph) or terraform-plan (Terraform's plan JSON, for scanners).",
        ),
    ] = Format.table,
    output: Output = None,
    save: Annotated[
        Path | None,
        typer.Option("--save", help="Also write the plan graph JSON here (e.g. with the table format)."),
    ] = None,
    project_dir: ProjectDir = None,
) -> None:
    """Run the Pulumi program under mocks and emit the plan graph (every resource with its inputs)."""
    if fmt not in (Format.table, Format.json, Format.terraform_plan):
        raise UsageProblem(f"--format {fmt.value}: allowed: table, json, terraform-plan")
    if fmt is Format.terraform_plan and env == "all" and (output is None or output.suffix):
        raise UsageProblem(
            "--format terraform-plan --env all: give --output a folder (one <env>.tfplan.json per "
            "environment), or one --env with --output FILE"
        )
    graph = build_plan(env, project_dir)
    if save is not None:
        write_plan(graph, save)
        err_console.print(f"wrote {save}")
    if fmt is Format.json:
        write_text(graph.to_json(), output)
        return
    if fmt is Format.terraform_plan:
        _write_terraform_plans(graph, output)
        return
    for env_plan in graph:
        custom = env_plan.custom_resources
        by_component = Counter(env_plan.component_of(r) for r in custom)
        by_type = Counter(r["type"] for r in custom)
        table = Table(
            title=f"{env_plan.name}: {len(custom)} cloud resources in {len(by_component)} components"
        )
        table.add_column("component")
        table.add_column("resources", justify="right")
        for component, count in sorted(by_component.items()):
            table.add_row(component, str(count))
        console.print(table)
        types = Table(title=f"{env_plan.name}: resources by type")
        types.add_column("type")
        types.add_column("count", justify="right")
        for typ, count in sorted(by_type.items()):
            types.add_row(typ, str(count))
        console.print(types)


def _write_terraform_plans(graph: PlanGraph, output: Path | None) -> None:
    from infra.policy.terraform_plan import export_environment, to_text

    if len(graph.names) == 1:
        write_text(to_text(export_environment(graph[graph.names[0]])), output)
        return
    assert output is not None
    for env_plan in graph:
        write_text(to_text(export_environment(env_plan)), output / f"{env_plan.name}.tfplan.json")
