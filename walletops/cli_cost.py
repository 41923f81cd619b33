"""``walletops cost``: monthly estimates from the plan graph, diffs, budgets, engines and actuals."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.table import Table

from contracts.config import ComputeEngine, EnvironmentConfig, UsageConfig, load_all, load_environment
from contracts.documents import read_json_document
from contracts.errors import UsageProblem
from contracts.output import Format, console, err_console, to_json, write_text
from contracts.plan_graph import PlanGraph
from contracts.project import ENVIRONMENTS, expand_envs, resolve_project_dir
from cost.estimator import CostReport, estimate
from walletops.options import Env, Output, ProjectDir
from walletops.orchestration import build_plan

app = typer.Typer(
    help="Monthly cost per environment from the plan graph: line items, diffs, budgets, actuals.",
    no_args_is_help=False,
    rich_markup_mode=None,
)

REPORT_FORMATS = (Format.table, Format.json, Format.md, Format.csv, Format.html)

PlanFile = Annotated[
    Path | None,
    typer.Option("--plan", help="A saved plan (walletops plan --format json); default: plan now."),
]
UsageFile = Annotated[
    Path | None,
    typer.Option(
        "--usage",
        help="YAML/JSON usage overriding config: {env: {field: value}} or {field: value} for all.",
    ),
]


def _check_format(fmt: Format, allowed: tuple[Format, ...]) -> None:
    if fmt not in allowed:
        raise UsageProblem(f"--format {fmt.value}: allowed: {', '.join(f.value for f in allowed)}")


def load_usage_file(path: Path, envs: list[str]) -> dict[str, dict[str, Any]]:
    """Usage overrides per environment from ``path``; unknown keys or values are usage errors."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageProblem(f"--usage {path}: file not found") from None
    except yaml.YAMLError as exc:
        raise UsageProblem(f"--usage {path}: not YAML/JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(document, dict) or not document:
        raise UsageProblem(f"--usage {path}: expected a mapping of usage fields, or of environments to them")
    if set(document) <= set(ENVIRONMENTS):
        per_env = {env: document.get(env) or {} for env in envs}
    else:
        per_env = {env: document for env in envs}
    allowed = ", ".join(UsageConfig.model_fields)
    for env, fields in per_env.items():
        if not isinstance(fields, dict):
            raise UsageProblem(f"--usage {path}: {env}: expected a mapping of usage fields ({allowed})")
        unknown = sorted(set(fields) - set(UsageConfig.model_fields))
        if unknown:
            raise UsageProblem(f"--usage {path}: unknown key(s) {', '.join(unknown)}; allowed: {allowed}")
    return per_env


def usage_for(
    models: dict[str, EnvironmentConfig], overrides: dict[str, dict[str, Any]], source: str
) -> dict[str, UsageConfig]:
    """Each environment's config usage with the overrides applied and validated."""
    usage: dict[str, UsageConfig] = {}
    problems: list[str] = []
    for env, model in models.items():
        try:
            usage[env] = UsageConfig.model_validate({**model.usage.model_dump(), **overrides.get(env, {})})
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                key = ".".join(str(p) for p in error["loc"])
                problems.append(f"--usage {source}: {env}.{key} = {error.get('input')!r}: {error['msg']}")
    if problems:
        raise UsageProblem(problems)
    return usage


def load_plan_or_cost(path: Path, option: str) -> PlanGraph | dict[str, Any]:
    """A plan graph or a cost report (``walletops cost --format json``) from ``path``, told apart by shape."""
    document = read_json_document(path, option)
    if isinstance(document, dict) and is_cost_report(document):
        return document
    if isinstance(document, dict) and isinstance(document.get("environments"), dict):
        return PlanGraph.from_document(document, f"{option} {path}")
    raise UsageProblem(f"{option} {path}: not a plan (walletops plan) or a cost report (walletops cost)")


def is_cost_report(document: dict[str, Any]) -> bool:
    environments = document.get("environments")
    return (
        "currency" in document
        and isinstance(environments, dict)
        and all(isinstance(env, dict) and "items" in env for env in environments.values())
    )


def price(
    env: str,
    plan_file: Path | None,
    usage_file: Path | None,
    project_dir: Path | None,
) -> tuple[CostReport, Path]:
    """Plan (or read ``plan_file``), then price with config usage and the usage file's overrides."""
    root = resolve_project_dir(project_dir)
    if plan_file is not None:
        loaded = load_plan_or_cost(plan_file, "--plan")
        if not isinstance(loaded, PlanGraph):
            raise UsageProblem(
                f"--plan {plan_file}: this is a cost report; --plan takes a plan (walletops plan)"
            )
        envs = loaded.names if env == "all" else expand_envs(env)
        graph = loaded.select(envs, f"--plan {plan_file}")
    else:
        envs = expand_envs(env)
        graph = build_plan(env, root)
    models = load_all(root, envs)
    overrides = load_usage_file(usage_file, envs) if usage_file is not None else {}
    return estimate(graph, usage_for(models, overrides, str(usage_file))), root


def render(report: CostReport, fmt: Format, output: Path | None, show_free: bool) -> None:
    from cost import report as views

    if fmt is Format.json:
        write_text(to_json(report.to_json()), output)
    elif fmt is Format.md:
        write_text(views.render_markdown(report), output)
    elif fmt is Format.csv:
        write_text(views.render_csv(report), output)
    elif fmt is Format.html:
        if output is None:
            write_text(views.render_html(report), output)
        else:
            views.write_plotly(output.parent)
            write_text(views.render_html(report, plotly_src=views.PLOTLY_FILE), output)
    elif output is not None:
        from rich.console import Console

        with output.open("w", encoding="utf-8") as handle:
            views.render_tables(report, Console(file=handle, width=200), show_free)
        err_console.print(f"wrote {output}")
    else:
        views.render_tables(report, console, show_free)


@app.callback(invoke_without_command=True)
def cost(
    ctx: typer.Context,
    *,
    env: Env = "all",
    plan_file: PlanFile = None,
    usage_file: UsageFile = None,
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="table, json, md, csv or html.")
    ] = Format.table,
    output: Output = None,
    fail_over: Annotated[
        float | None,
        typer.Option(
            "--fail-over",
            help="Budget in USD/month per environment: exit 1 when any environment's estimate exceeds it.",
        ),
    ] = None,
    show_free: Annotated[
        bool, typer.Option("--show-free", help="Table: also list known-free resources.")
    ] = False,
    save_estimates: Annotated[
        bool,
        typer.Option(
            "--save-estimates", help="Record the totals in cost/estimates.json (read by the budgets)."
        ),
    ] = False,
    project_dir: ProjectDir = None,
) -> None:
    """Monthly estimate per environment, line by line (730 h/month, on-demand, offline catalog)."""
    if ctx.invoked_subcommand is not None:
        return
    _check_format(fmt, REPORT_FORMATS)
    if fail_over is not None and fail_over <= 0:
        raise UsageProblem(f"--fail-over {fail_over}: allowed: a budget in USD greater than 0")
    if save_estimates and (usage_file is not None or env != "all"):
        raise UsageProblem(
            "--save-estimates records every environment with its config usage: use --env all, no --usage"
        )
    report, root = price(env, plan_file, usage_file, project_dir)
    render(report, fmt, output, show_free)
    if save_estimates:
        from cost.estimates import save_estimates as save

        err_console.print(f"wrote {save(report, root)}")
    if fail_over is not None:
        over = {n: e.monthly_usd for n, e in report.environments.items() if e.monthly_usd > fail_over}
        for name, total in over.items():
            err_console.print(
                f"over budget: {name} is estimated at {total:,.2f} USD/month > {fail_over:,.2f}"
            )
        if over:
            raise typer.Exit(1)


@app.command("diff")
def diff(
    *,
    base: Annotated[Path, typer.Option("--base", help="Plan or cost JSON before the change.")],
    head: Annotated[Path, typer.Option("--head", help="Plan or cost JSON after the change.")],
    usage_file: UsageFile = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="md, json or table.")] = Format.md,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """Monthly change by resource between two plans or cost reports (added, removed, changed)."""
    from cost.diff import diff_costs, render_markdown

    _check_format(fmt, (Format.md, Format.json, Format.table))
    sides: list[dict[str, Any]] = []
    for option, path in (("--base", base), ("--head", head)):
        loaded = load_plan_or_cost(path, option)
        if isinstance(loaded, PlanGraph):
            root = resolve_project_dir(project_dir)
            models = load_all(root, loaded.names)
            overrides = load_usage_file(usage_file, loaded.names) if usage_file is not None else {}
            loaded = estimate(loaded, usage_for(models, overrides, str(usage_file))).to_json()
        sides.append(loaded)
    result = diff_costs(sides[0], sides[1])
    if fmt is Format.json:
        write_text(to_json(result.to_json()), output)
    elif fmt is Format.md:
        write_text(render_markdown(result), output)
    else:
        table = Table(title=f"monthly change: {result.delta_usd:+,.2f} USD")
        for column in ("environment", "change", "resource", "type", "before", "after", "delta"):
            table.add_column(column)
        for env in result.environments.values():
            table.add_row(
                env.name,
                "total",
                "",
                "",
                f"{env.base_usd:,.2f}",
                f"{env.head_usd:,.2f}",
                f"{env.delta_usd:+,.2f}",
            )
            for r in env.added:
                table.add_row(
                    "", "added", r.name, r.type, "", f"{r.monthly_usd:,.2f}", f"{r.monthly_usd:+,.2f}"
                )
            for r in env.removed:
                table.add_row(
                    "", "removed", r.name, r.type, f"{r.monthly_usd:,.2f}", "", f"{-r.monthly_usd:+,.2f}"
                )
            for c in env.changed:
                table.add_row(
                    "",
                    "changed",
                    c.name,
                    c.type,
                    f"{c.base_usd:,.2f}",
                    f"{c.head_usd:,.2f}",
                    f"{c.delta_usd:+,.2f}",
                )
        console.print(table)


@app.command("budget")
def budget(
    *,
    source: Annotated[
        str, typer.Option("--from", help="The environment the rule of thumb starts from.")
    ] = "prod",
    factors: Annotated[
        str, typer.Option("--factors", help="ENV=FACTOR pairs, e.g. qa=0.4,stage=0.7,dev=0.25.")
    ] = "qa=0.4,stage=0.7,dev=0.25",
    amount: Annotated[
        float | None,
        typer.Option("--amount", help="The tentative budget of --from in USD (default: its estimate)."),
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Percent of the estimate within which the two agree.")
    ] = 20.0,
    plan_file: PlanFile = None,
    usage_file: UsageFile = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, json or md.")] = Format.table,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """Rule-of-thumb budgets (factor x the --from environment) beside the computed estimates."""
    from cost.extrapolate import extrapolate, parse_factors, rows_to_json

    _check_format(fmt, (Format.table, Format.json, Format.md))
    if source not in ENVIRONMENTS:
        raise UsageProblem(f"--from {source!r}: unknown environment; allowed: {', '.join(ENVIRONMENTS)}")
    if amount is not None and amount <= 0:
        raise UsageProblem(f"--amount {amount}: allowed: a budget in USD greater than 0")
    if tolerance < 0:
        raise UsageProblem(f"--tolerance {tolerance}: allowed: a percentage >= 0")
    parsed = parse_factors(factors, source)
    report, _ = price("all", plan_file, usage_file, project_dir)
    rows = extrapolate(report, source, parsed, amount, tolerance)
    if fmt is Format.json:
        write_text(to_json(rows_to_json(rows, source, tolerance)), output)
        return
    header = ["env", "factor", "rule of thumb", "estimate", "diff", "diff %", "verdict"]
    body = [
        [
            row.env,
            f"{row.factor:g}",
            f"{row.rule_of_thumb_usd:,.2f}",
            f"{row.estimate_usd:,.2f}",
            f"{row.difference_usd:+,.2f}",
            "n/a" if row.difference_percent is None else f"{row.difference_percent:+.1f}%",
            "agrees" if row.agrees else ("over" if row.difference_usd > 0 else "UNDER"),
        ]
        for row in rows
    ]
    if fmt is Format.md:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        write_text("\n".join(lines) + "\n", output)
        return
    table = Table(title=f"rule of thumb from {source} vs estimate (USD/month, tolerance {tolerance:g}%)")
    for column in header:
        table.add_column(column, justify="left" if column in ("env", "verdict") else "right", no_wrap=True)
    for cells in body:
        table.add_row(*cells)
    console.print(table)


def ecs_variant(model: EnvironmentConfig) -> EnvironmentConfig:
    """``model`` switched to ECS Fargate, validated: no kubernetes section, load tests outside the cluster.

    ECK runs on the EKS cluster, so an ECK environment's logs move to an Amazon OpenSearch Service
    domain of the same node count and volume size (the one in-account choice without Kubernetes).
    """
    data = model.model_dump()
    data.update(compute_engine=ComputeEngine.ecs.value, kubernetes=None)
    data["loadtest"] = {**data["loadtest"], "in_cluster": False}
    logging, eck = data["logging"], data["logging"].get("eck")
    if eck is not None:
        data["logging"] = {
            **logging,
            "elastic": "opensearch",
            "eck": None,
            "opensearch": {
                "engine_version": "OpenSearch_2.19",
                "instance_type": "r6g.large.search",
                "instance_count": eck["elasticsearch_nodes"],
                "volume_gb": eck["elasticsearch_storage_gb"],
            },
        }
    return EnvironmentConfig.model_validate(data)


@app.command("engines")
def engines(
    *,
    env: Annotated[str, typer.Option("--env", "-e", help="dev, qa, stage or prod.")],
    usage_file: UsageFile = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """The same environment priced on EKS and on ECS Fargate (both planned from the model)."""
    from infra.planner import plan_environments

    _check_format(fmt, (Format.table, Format.json))
    if env == "all":
        raise UsageProblem(
            "--env all: compare one environment at a time; allowed: " + ", ".join(ENVIRONMENTS)
        )
    root = resolve_project_dir(project_dir)
    model = load_environment(expand_envs(env)[0], root)
    if model.compute_engine is not ComputeEngine.eks:
        raise UsageProblem(
            f"--env {env}: runs on {model.compute_engine.value}; the comparison starts from eks"
        )
    variants = {"eks": model, "ecs": ecs_variant(model)}
    overrides = load_usage_file(usage_file, [env]) if usage_file is not None else {}
    usage = usage_for({env: model}, overrides, str(usage_file))
    reports: dict[str, CostReport] = {}
    with console.status(f"planning {env} on eks and on ecs", spinner="dots"):
        for engine, variant in variants.items():
            reports[engine] = estimate(plan_environments([variant], processes=1), usage)
    data: dict[str, Any] = {
        "currency": "USD",
        "environment": env,
        "engines": {
            engine: {
                "monthly_usd": report.environments[env].monthly_usd,
                "by_component": report.environments[env].by_component(),
                "unpriced": len(report.environments[env].unpriced),
            }
            for engine, report in reports.items()
        },
    }
    data["ecs_minus_eks_usd"] = round(
        reports["ecs"].environments[env].monthly_usd - reports["eks"].environments[env].monthly_usd, 2
    )
    if fmt is Format.json:
        write_text(to_json(data), output)
        return
    components = sorted({c for engine in data["engines"].values() for c in engine["by_component"]})
    table = Table(title=f"{env}: EKS vs ECS Fargate (USD/month)")
    table.add_column("component")
    table.add_column("eks", justify="right")
    table.add_column("ecs", justify="right")
    for component in components:
        table.add_row(
            component,
            *(f"{data['engines'][e]['by_component'].get(component, 0.0):,.2f}" for e in ("eks", "ecs")),
        )
    table.add_row("total", *(f"{data['engines'][e]['monthly_usd']:,.2f}" for e in ("eks", "ecs")))
    console.print(table)
    console.print(f"ECS Fargate minus EKS: {data['ecs_minus_eks_usd']:+,.2f} USD/month")


@app.command("actuals")
def actuals(
    *,
    env: Annotated[str, typer.Option("--env", "-e", help="dev, qa, stage or prod.")],
    endpoint_url: Annotated[
        str | None, typer.Option("--endpoint-url", help="Cost Explorer endpoint (e.g. a moto server).")
    ] = None,
    fail_over: Annotated[
        float | None,
        typer.Option(
            "--fail-over", help="Exit 1 when the projected month exceeds the estimate by more than PERCENT."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Day of the month to report (YYYY-MM-DD; default today, UTC)."),
    ] = None,
    plan_file: PlanFile = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """Month-to-date cost from Cost Explorer (grouped by the environment tag) against the estimate."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cost.actuals import compare, month_to_date

    _check_format(fmt, (Format.table, Format.json))
    if env == "all":
        raise UsageProblem("--env all: actuals compare one environment; allowed: " + ", ".join(ENVIRONMENTS))
    envs = expand_envs(env)
    if fail_over is not None and fail_over < 0:
        raise UsageProblem(f"--fail-over {fail_over}: allowed: a percentage >= 0")
    try:
        day = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    except ValueError:
        raise UsageProblem(f"--as-of {as_of!r}: allowed: a date as YYYY-MM-DD") from None
    report, _ = price(envs[0], plan_file, None, project_dir)
    estimate_usd = report.environments[env].monthly_usd
    try:
        spent, start, end = month_to_date(env, day, endpoint_url)
    except (BotoCoreError, ClientError) as exc:
        err_console.print(f"error: Cost Explorer: {exc}", markup=False)
        raise typer.Exit(1) from None
    result = compare(env, spent, estimate_usd, as_of=day, start=start, end=end)
    if fmt is Format.json:
        write_text(to_json(result.to_json()), output)
    else:
        table = Table(title=f"{env}: actual spend {start} .. {end} (exclusive) vs estimate, USD")
        for column in ("month to date", "projected month", "estimate", "over estimate"):
            table.add_column(column, justify="right")
        over = "n/a" if result.over_percent is None else f"{result.over_percent:+.1f}%"
        table.add_row(
            f"{result.month_to_date_usd:,.2f}",
            f"{result.projected_month_usd:,.2f}",
            f"{estimate_usd:,.2f}",
            over,
        )
        console.print(table)
    if fail_over is not None and result.over_percent is not None and result.over_percent > fail_over:
        err_console.print(
            f"over estimate: {env} projects {result.projected_month_usd:,.2f} USD, "
            f"{result.over_percent:+.1f}% against {estimate_usd:,.2f} (limit +{fail_over:g}%)"
        )
        raise typer.Exit(1)


@app.command("refresh")
def refresh(
    *,
    region: Annotated[str, typer.Option("--region", help="The catalog's region.")] = "eu-west-1",
    answers: Annotated[
        Path | None,
        typer.Option(
            "--answers",
            help="Recorded get_products answers to replay (when the Price List API cannot be reached).",
            dir_okay=False,
        ),
    ] = None,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """Rebuild the price catalog of --region from the AWS Price List Query API (one query per price)."""
    from cost.catalog import catalog_path
    from cost.price_api import (
        USAGE_PREFIX,
        live_client,
        load_answers,
        replay_client,
        sizes_from_config,
        today,
        wanted,
    )
    from cost.price_api import (
        refresh as build,
    )

    if region not in USAGE_PREFIX:
        raise UsageProblem(f"--region {region!r}: allowed: {', '.join(sorted(USAGE_PREFIX))}")
    root = resolve_project_dir(project_dir)
    items = wanted(region, *sizes_from_config(root))
    if answers is not None:
        recorded = load_answers(answers)
        client, answered = replay_client(recorded, region, items)
        document = build(
            client, region, items, recorded.recorded_on or today(), answered, cited=recorded.cited
        )
        document["sources"]["aws-price-list-api"] += f"; replayed from {answers.name}: {recorded.source}"
    else:
        document = build(live_client(), region, items, today())
    target = output or catalog_path(region)
    target.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    err_console.print(
        f"wrote {target}: {len(document['prices'])} prices, {len(document['unavailable'])} unavailable"
    )
