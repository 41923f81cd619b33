"""Renderings of a :class:`cost.estimator.CostReport`: rich tables, Markdown, CSV and HTML.

The HTML report loads plotly's JavaScript once for all its charts (a stacked bar chart of every
environment by component, steady state beside the first year), then the line items: written to
a file it references ``plotly.min.js`` beside it (written once, shared with the load-test charts
of the same folder); written to standard output it inlines the library once. No network needed.
"""

from __future__ import annotations

import csv
import html
import io
from collections import defaultdict
from pathlib import Path

import plotly.graph_objects as go
from rich import box
from rich.console import Console
from rich.table import Table

from cost.estimator import CostReport, EnvironmentCost, LineItem


def usd(value: float) -> str:
    return f"{value:,.2f}"


def _rate(item: LineItem) -> str:
    return f"{item.unit_price:.6g}"


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.4g}"


def _grouped(env: EnvironmentCost, show_free: bool) -> list[tuple[str, str, float, list[LineItem]]]:
    """Resources (name, component, monthly total, their lines), largest first."""
    groups: dict[str, list[LineItem]] = defaultdict(list)
    for item in env.items:
        if item.free and not show_free:
            continue
        groups[item.urn].append(item)
    rows = [
        (lines[0].name, lines[0].component, round(sum(i.monthly_usd for i in lines), 2), lines)
        for lines in groups.values()
    ]
    return sorted(rows, key=lambda row: (-row[2], row[0]))


def render_tables(report: CostReport, console: Console, show_free: bool = False) -> None:
    """Print, per environment, totals by component, then each resource with its charges as
    sub-lines (Infracost-style, readable on 80 columns), then the unpriced charges and the total."""
    for env in report.environments.values():
        summary = Table(title=f"{env.name} ({env.region}): {usd(env.monthly_usd)} USD/month by component")
        summary.add_column("component")
        summary.add_column("USD/month", justify="right")
        for component, total in env.by_component().items():
            summary.add_row(component, usd(total))
        console.print(summary)
        lines = Table(
            title=f"{env.name}: resources and their charges", box=box.SIMPLE_HEAD, padding=(0, 1), expand=True
        )
        lines.add_column("resource / charge", overflow="fold", ratio=5)
        lines.add_column("quantity x unit USD", justify="right", overflow="fold", ratio=3)
        lines.add_column("USD/month", justify="right", no_wrap=True)
        for name, component, total, items in _grouped(env, show_free):
            lines.add_row(f"[bold]{name}[/] ({component})", "", usd(total))
            for index, item in enumerate(items):
                branch = "└─" if index == len(items) - 1 else "├─"
                charge = "free: " + item.note if item.free else item.usage_type
                quantity = "" if item.free else f"{_quantity(item.quantity)} {item.unit} x {_rate(item)}"
                lines.add_row(f" {branch} {charge}", quantity, usd(item.monthly_usd))
        console.print(lines)
        free = sum(1 for item in env.items if item.free)
        console.print(f"{env.name}: {free} resources known to be free (--show-free lists them)")
        if env.unpriced:
            unpriced = Table(
                title=f"{env.name}: NOT priced ({len(env.unpriced)})",
                style="yellow",
                box=box.SIMPLE_HEAD,
                expand=True,
            )
            unpriced.add_column("resources", overflow="fold", ratio=1)
            unpriced.add_column("reason", overflow="fold", ratio=2)
            same: dict[tuple[str, str], list[str]] = defaultdict(list)
            for entry in env.unpriced:
                same[entry.type, entry.reason].append(entry.name)
            for (typ, reason), names in same.items():
                label = names[0] if len(names) == 1 else f"{len(names)} x {typ.rsplit(':', 1)[-1]}"
                unpriced.add_row(label, reason)
            console.print(unpriced)
        if env.usage_source != "config":
            console.print(f"{env.name}: usage assumptions are the model defaults (no usage config given)")
        console.print(
            f"{env.name}: {usd(env.monthly_usd)} USD/month steady state, "
            f"{usd(env.first_year_monthly_usd)} on average over the first year"
        )
    console.print(
        f"total of {', '.join(report.environments)}: {usd(report.total_monthly_usd)} USD/month "
        f"(on-demand, 730 h/month, catalog {report.catalog_date})"
    )


def render_markdown(report: CostReport) -> str:
    """A Markdown report: totals per environment and component, line items, unpriced entries."""
    out = [f"## Monthly cost estimate (USD, on-demand, catalog {report.catalog_date})", ""]
    out += ["| environment | USD/month | first-year average | unpriced |", "|---|---:|---:|---:|"]
    for env in report.environments.values():
        out.append(
            f"| {env.name} | {usd(env.monthly_usd)} | {usd(env.first_year_monthly_usd)} "
            f"| {len(env.unpriced)} |"
        )
    out += [f"| **total** | **{usd(report.total_monthly_usd)}** | | |", ""]
    for env in report.environments.values():
        out += [f"### {env.name}", "", "| component | USD/month |", "|---|---:|"]
        out += [f"| {c} | {usd(t)} |" for c, t in env.by_component().items()]
        out += ["", "| resource | component | usage type | quantity | unit | unit USD | USD/month |"]
        out.append("|---|---|---|---:|---|---:|---:|")
        for item in sorted(env.items, key=lambda i: -i.monthly_usd):
            if not item.free:
                out.append(
                    f"| {item.name} | {item.component} | {item.usage_type} | {item.quantity:,.4g} | "
                    f"{item.unit} | {_rate(item)} | {usd(item.monthly_usd)} |"
                )
        if env.unpriced:
            out += ["", "Not priced:", ""]
            out += [f"- `{entry.name}` ({entry.type}): {entry.reason}" for entry in env.unpriced]
        out.append("")
    return "\n".join(out)


CSV_COLUMNS = (
    "environment",
    "urn",
    "name",
    "type",
    "component",
    "service",
    "usage_type",
    "quantity",
    "unit",
    "unit_price",
    "monthly_usd",
    "free",
    "note",
)


def render_csv(report: CostReport) -> str:
    """Every line item (free ones included) and every unpriced entry (``unit`` = ``UNPRICED``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for env in report.environments.values():
        for item in env.items:
            writer.writerow(
                [
                    env.name,
                    item.urn,
                    item.name,
                    item.type,
                    item.component,
                    item.service,
                    item.usage_type,
                    item.quantity,
                    item.unit,
                    item.unit_price,
                    f"{item.monthly_usd:.2f}",
                    item.free,
                    item.note,
                ]
            )
        for entry in env.unpriced:
            writer.writerow(
                [
                    env.name,
                    entry.urn,
                    entry.name,
                    entry.type,
                    entry.component,
                    "",
                    "",
                    "",
                    "UNPRICED",
                    "",
                    "",
                    "",
                    entry.reason,
                ]
            )
    return buffer.getvalue()


def stacked_chart(report: CostReport) -> go.Figure:
    """Stacked bars: one bar per environment, one segment per component."""
    components = sorted({c for env in report.environments.values() for c in env.by_component()})
    envs = list(report.environments)
    figure = go.Figure()
    for component in components:
        figure.add_bar(
            name=component,
            x=envs,
            y=[report.environments[e].by_component().get(component, 0.0) for e in envs],
        )
    figure.update_layout(
        barmode="stack",
        title=f"Monthly cost by component (USD, total {usd(report.total_monthly_usd)})",
        yaxis_title="USD / month",
    )
    return figure


def _env_table(env: EnvironmentCost) -> str:
    rows = []
    for item in sorted(env.items, key=lambda i: -i.monthly_usd):
        if item.free:
            continue
        cells = (
            item.name,
            item.component,
            item.service,
            item.usage_type,
            f"{item.quantity:,.4g}",
            item.unit,
            _rate(item),
            usd(item.monthly_usd),
            item.note,
        )
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    unpriced = "".join(
        f"<li><code>{html.escape(e.name)}</code> ({html.escape(e.type)}): {html.escape(e.reason)}</li>"
        for e in env.unpriced
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "resource",
            "component",
            "service",
            "usage type",
            "qty",
            "unit",
            "unit USD",
            "USD/month",
            "note",
        )
    )
    return (
        f"<h2>{html.escape(env.name)}: {usd(env.monthly_usd)} USD/month</h2>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + (f"<h3>Not priced ({len(env.unpriced)})</h3><ul>{unpriced}</ul>" if env.unpriced else "")
    )


def steady_state_chart(report: CostReport) -> go.Figure:
    """Grouped bars: each environment's steady-state month beside its first-year average."""
    envs = list(report.environments)
    figure = go.Figure()
    figure.add_bar(name="steady state", x=envs, y=[report.environments[e].monthly_usd for e in envs])
    figure.add_bar(
        name="first-year average", x=envs, y=[report.environments[e].first_year_monthly_usd for e in envs]
    )
    figure.update_layout(
        barmode="group",
        title="Steady state vs first year (storage still filling up)",
        yaxis_title="USD / month",
    )
    return figure


PLOTLY_FILE = "plotly.min.js"


def write_plotly(folder: Path) -> Path:
    """``plotly.min.js`` in ``folder`` (the name plotly's own ``include_plotlyjs="directory"`` uses),
    written unless an identical copy is there."""
    from plotly.offline import get_plotlyjs

    path = folder / PLOTLY_FILE
    script = get_plotlyjs()
    if not path.is_file() or path.read_text(encoding="utf-8") != script:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(script, encoding="utf-8")
    return path


def plotly_script(src: str | None = None) -> str:
    """The one ``<script>`` that loads plotly for every chart: ``src`` when given, else inlined."""
    if src is not None:
        return f"<script src='{html.escape(src)}'></script>"
    from plotly.offline import get_plotlyjs

    return f"<script>{get_plotlyjs()}</script>"


def render_html(report: CostReport, plotly_src: str | None = None) -> str:
    """One HTML page: the charts (plotly loaded once in the head, from ``plotly_src`` when given,
    else inlined so the file stands alone) and every environment's table."""
    charts = "".join(
        figure.to_html(full_html=False, include_plotlyjs=False)
        for figure in (stacked_chart(report), steady_state_chart(report))
    )
    tables = "".join(_env_table(env) for env in report.environments.values())
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 6px}"
        "td:nth-child(5),td:nth-child(7),td:nth-child(8){text-align:right}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>walletops cost report</title>"
        f"<style>{style}</style>{plotly_script(plotly_src)}</head><body><h1>Monthly cost estimate</h1>"
        f"<p>On-demand prices, 730 hours a month, catalog snapshot {html.escape(report.catalog_date)}. "
        f"Total {usd(report.total_monthly_usd)} USD/month at steady state.</p>"
        f"{charts}{tables}</body></html>\n"
    )
