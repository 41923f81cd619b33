"""``walletops observability render|apply|diff|status|ship``: the Elasticsearch and Kibana assets.

Credentials come from the environment or a secret file (``observability.connect``), never from flags.
Exit codes: 2 bad input (URL, credentials, environment), 1 unreachable cluster or a refused request
(naming what was and was not applied), or ``status`` finding a red cluster or ILM errors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from contracts.config import load_environment
from contracts.errors import UsageProblem
from contracts.output import Format, console, err_console, to_json, write_text
from contracts.project import ENVIRONMENTS, expand_envs, resolve_project_dir
from observability import connect, lifecycle
from observability.apply import Cluster, Interrupted, Report, apply, diff, status
from observability.assets import Request, render, write_rendered
from observability.ship import ship as ship_files
from walletops.options import Env, Output, ProjectDir

app = typer.Typer(help="Elasticsearch and Kibana assets as code: render, apply, diff, status, ship.")

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table or json.")]
UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="Elasticsearch URL (default: $ELASTICSEARCH_URL).", show_default=False),
]
KibanaOpt = Annotated[
    str | None,
    typer.Option("--kibana-url", help="Kibana URL (default: $KIBANA_URL; none: Kibana assets skipped)."),
]
AccountOpt = Annotated[
    str | None,
    typer.Option(
        "--account-id",
        help="AWS account id: names the snapshot bucket as the program does (default: $AWS_ACCOUNT_ID; "
        "none: no snapshot repository or SLM policy).",
    ),
]
SecretOpt = Annotated[
    Path | None,
    typer.Option(
        "--secret-file", help="JSON/YAML file with api_key, or username and password.", dir_okay=False
    ),
]


def _formats(fmt: Format) -> None:
    if fmt not in (Format.table, Format.json):
        raise UsageProblem(f"--format {fmt.value}: allowed: table, json")


def _requests(env: str, account_id: str | None, project_dir: Path | None) -> tuple[list[Request], str | None]:
    config = load_environment(env, resolve_project_dir(project_dir))
    account = account_id or os.environ.get("AWS_ACCOUNT_ID") or None
    bucket = lifecycle.snapshot_bucket(config, account) if account else None
    return render(config, bucket), bucket


def _url(url: str | None) -> str:
    value = url or os.environ.get("ELASTICSEARCH_URL")
    if not value:
        raise UsageProblem("no Elasticsearch URL: pass --url URL or set ELASTICSEARCH_URL")
    return connect.check_url(value, "--url")


def _single_env(env: str) -> str:
    if env not in ENVIRONMENTS:
        raise UsageProblem(
            f"--env {env!r}: one environment is applied at a time; allowed: {', '.join(ENVIRONMENTS)}"
        )
    return env


@app.command("render")
def render_cmd(
    env: Env,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder: one file per request, under <env>/.", file_okay=False),
    ] = None,
    fmt: FormatOpt = Format.table,
    account_id: AccountOpt = None,
    project_dir: ProjectDir = None,
) -> None:
    """Write every asset as the request apply sends (method, path, body), offline."""
    _formats(fmt)
    rendered: dict[str, list[Request]] = {}
    for name in expand_envs(env):
        requests, bucket = _requests(name, account_id, project_dir)
        rendered[name] = requests
        if bucket is None:
            err_console.print(f"{name}: no --account-id: snapshot repository and SLM policy not rendered")
        if output is not None:
            paths = write_rendered(requests, output / name)
            err_console.print(f"{name}: wrote {len(paths)} requests to {output / name}")
    if output is not None:
        return
    if fmt is Format.json:
        data = {name: [request.as_json() for request in requests] for name, requests in rendered.items()}
        write_text(to_json(data if env == "all" else data[env]), None)
        return
    for name, requests in rendered.items():
        table = Table(title=f"observability assets: {name} (in apply order)")
        for column in ("#", "target", "method", "path"):
            table.add_column(column)
        for index, request in enumerate(requests, start=1):
            table.add_row(str(index), request.target, request.method, request.path)
        console.print(table)


def _cluster(url: str | None, kibana_url: str | None, secret_file: Path | None) -> Cluster:
    creds = connect.credentials(secret_file=secret_file)
    es = connect.elasticsearch(_url(url), creds)
    kibana_value = kibana_url or os.environ.get("KIBANA_URL") or None
    return Cluster(es, connect.kibana(kibana_value, creds) if kibana_value else None)


def _report(verb: str, report: Report, fmt: Format, output: Path | None) -> None:
    if fmt is Format.json:
        data = {
            "changes": report.changed,
            "assets": [
                {"asset": c.key, "action": c.action, "differences": c.differences} for c in report.changes
            ],
            "skipped": report.skipped,
        }
        write_text(to_json(data), output)
        return
    table = Table(title=f"observability {verb}: {report.changed} change(s)")
    for column in ("asset", "action", "differences"):
        table.add_column(column, overflow="fold")
    for change in report.changes:
        table.add_row(change.key, change.action, "\n".join(change.differences[:5]))
    console.print(table)
    if report.skipped:
        err_console.print(f"skipped (no Kibana URL): {len(report.skipped)} Kibana assets")


def _converge(
    verb: str,
    *,
    env: str,
    url: str | None,
    kibana_url: str | None,
    account_id: str | None,
    secret_file: Path | None,
    fmt: Format,
    output: Path | None,
    project_dir: Path | None,
) -> None:
    _formats(fmt)
    requests, _ = _requests(_single_env(env), account_id, project_dir)
    cluster = _cluster(url, kibana_url, secret_file)
    try:
        report = apply(cluster, requests) if verb == "apply" else diff(cluster, requests)
    except Interrupted as exc:
        for line in exc.lines():
            err_console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    _report(verb, report, fmt, output)


@app.command("apply")
def apply_cmd(  # noqa: PLR0917 (typer maps each parameter to an option)
    env: Env,
    url: UrlOpt = None,
    kibana_url: KibanaOpt = None,
    account_id: AccountOpt = None,
    secret_file: SecretOpt = None,
    fmt: FormatOpt = Format.table,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """Create or update, in dependency order, only the assets that differ (a second run: 0 changes)."""
    _converge(
        "apply",
        env=env,
        url=url,
        kibana_url=kibana_url,
        account_id=account_id,
        secret_file=secret_file,
        fmt=fmt,
        output=output,
        project_dir=project_dir,
    )


@app.command("diff")
def diff_cmd(  # noqa: PLR0917 (typer maps each parameter to an option)
    env: Env,
    url: UrlOpt = None,
    kibana_url: KibanaOpt = None,
    account_id: AccountOpt = None,
    secret_file: SecretOpt = None,
    fmt: FormatOpt = Format.table,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """Show what apply would change, without writing."""
    _converge(
        "diff",
        env=env,
        url=url,
        kibana_url=kibana_url,
        account_id=account_id,
        secret_file=secret_file,
        fmt=fmt,
        output=output,
        project_dir=project_dir,
    )


@app.command("status")
def status_cmd(
    url: UrlOpt = None,
    secret_file: SecretOpt = None,
    fmt: FormatOpt = Format.table,
    output: Output = None,
) -> None:
    """Cluster health, ILM errors and ingest failures of our pipelines; exit 1 if red or ILM errors."""
    _formats(fmt)
    es = connect.elasticsearch(_url(url), connect.credentials(secret_file=secret_file))
    try:
        found = status(es)
    except Interrupted as exc:
        err_console.print(f"error: {exc.reason}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    if fmt is Format.json:
        write_text(
            to_json({"health": found.health, "ilm_errors": found.ilm_errors, "ingest": found.ingest}), output
        )
    else:
        health = found.health
        console.print(
            f"cluster {health.get('cluster_name')}: {health.get('status')}, "
            f"{health.get('number_of_nodes')} node(s), "
            f"{health.get('unassigned_shards')} unassigned shard(s)"
        )
        console.print(f"ILM errors: {len(found.ilm_errors)}")
        for index, reason in sorted(found.ilm_errors.items()):
            console.print(f"  {index}: {reason}", markup=False)
        for name, counts in found.ingest.items():
            console.print(f"pipeline {name}: {counts['count']} processed, {counts['failed']} failed")
    if not found.ok:
        raise typer.Exit(1)


@app.command("ship")
def ship_cmd(  # noqa: PLR0917 (typer maps each parameter to an option)
    source: Annotated[
        Path, typer.Option("--from", help="Folder of ECS NDJSON files (searched recursively).")
    ],
    url: UrlOpt = None,
    env: Annotated[
        str, typer.Option("--env", "-e", help="Environment of documents without service.environment.")
    ] = "dev",
    secret_file: SecretOpt = None,
    fmt: FormatOpt = Format.table,
    output: Output = None,
) -> None:
    """Bulk-send ECS NDJSON files to their data streams; exit 1 if any document failed."""
    _formats(fmt)
    _single_env(env)
    es = connect.elasticsearch(_url(url), connect.credentials(secret_file=secret_file))
    try:
        report = ship_files(es, source, env)
    except Interrupted as exc:
        for line in exc.lines():
            err_console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    data = {
        "files": report.files,
        "created": report.created,
        "rejected": report.rejected,
        "failed": report.failed,
    }
    if fmt is Format.json:
        write_text(to_json(data), output)
    else:
        for stream, count in sorted(report.created.items()):
            console.print(f"{stream}: {count} created")
        for line in [*report.rejected, *report.failed][:20]:
            console.print(f"  {line}", markup=False)
        console.print(
            f"{report.files} file(s): {sum(report.created.values())} created, "
            f"{len(report.rejected)} rejected, "
            f"{len(report.failed)} failed"
        )
    if report.failed:
        raise typer.Exit(1)
