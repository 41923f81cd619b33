"""``walletops plan``: the plan graph of one or all environments, produced offline under mocks."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer
from rich.table import Table

from contracts.errors import UsageProblem
from contracts.output import Format, console, write_text
from walletops.options import Env, Output, ProjectDir
from walletops.orchestration import build_plan


def plan(
    env: Env = "all",
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """Run the Pulumi program under mocks and emit the plan graph (every resource with its inputs)."""
    if fmt not in (Format.table, Format.json):
        raise UsageProblem(f"--format {fmt.value}: allowed: table, json")
    graph = build_plan(env, project_dir)
    if fmt is Format.json:
        write_text(graph.to_json(), output)
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
