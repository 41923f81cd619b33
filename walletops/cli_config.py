"""``walletops config show``: the validated environment model, as Pulumi and every tool see it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from contracts.config import load_environment
from contracts.errors import UsageProblem
from contracts.output import Format, console, to_json, write_text
from contracts.project import expand_envs, resolve_project_dir
from walletops.options import Env, Output, ProjectDir

app = typer.Typer(help="Inspect the validated environment configuration.", no_args_is_help=True)


@app.command("show")
def show(
    env: Env,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """Print the resolved, validated model of one environment (or all)."""
    if fmt not in (Format.table, Format.json):
        raise UsageProblem(f"--format {fmt.value}: allowed: table, json")
    root = resolve_project_dir(project_dir)
    models = {name: load_environment(name, root) for name in expand_envs(env)}
    data = {name: model.model_dump(mode="json") for name, model in models.items()}
    if fmt is Format.json:
        write_text(to_json(data if env == "all" else data[env]), output)
        return
    for name, dumped in data.items():
        table = Table(title=f"environment {name}", show_header=True)
        table.add_column("key")
        table.add_column("value", overflow="fold")
        for key, value in _flatten(dumped):
            table.add_row(key, value)
        console.print(table)


def _flatten(data: object, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(data, dict):
        rows: list[tuple[str, str]] = []
        for key, value in data.items():
            rows.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    if isinstance(data, list) and data and isinstance(data[0], dict):
        rows = []
        for index, item in enumerate(data):
            rows.extend(_flatten(item, f"{prefix}[{index}]"))
        return rows
    return [(prefix, ", ".join(map(str, data)) if isinstance(data, list) else str(data))]
