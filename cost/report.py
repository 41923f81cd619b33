"""Renderings of a :class:`cost.estimator.CostReport`: rich tables, Markdown, CSV and HTML.

The HTML report is one self-contained file (plotly's JavaScript inlined, no network needed to
open it): a stacked bar chart of every environment by component, then the line items.
"""

from __future__ import annotations

import csv
import html
import io

import plotly.graph_objects as go
from rich.console import Console
from rich.table import Table

from cost.estimator import CostReport, EnvironmentCost, LineItem


def usd(value: float) -> str:
    return f"{value:,.2f}"


def _rate(item: LineItem) -> str:
    return f"{item.unit_price:.6g}"


def render_tables(report: CostReport, console: Console, show_free: bool = False) -> None:
    """Print, per environment, totals by component and the priced line items, then the overall total."""
    for env in report.environments.values():
        summary = Table(title=f"{env.name} ({env.region}): {usd(env.monthly_usd)} USD/month by component")
        summary.add_column("component")
        summary.add_column("USD/month", justify="right")
        for component, total in env.by_component().items():
            summary.add_row(component, usd(total))
        console.print(summary)
        lines = Table(title=f"{env.name}: line items")
        for column in ("resource", "component", "service", "usage type", "quantity", "unit", "unit USD"):
            lines.add_column(column, justify="right" if column in ("quantity", "unit USD") else "left")
        lines.add_column("USD/month", justify="right")
        for item in sorted(env.items, key=lambda i: -i.monthly_usd):
            if item.free and not show_free:
                continue
            lines.add_row(
                item.name,
                item.component,
                item.service,
                item.usage_type,
                f"{item.quantity:,.4g}",
                item.unit,
                _rate(item),
                usd(item.monthly_usd),
            )
        console.print(lines)
        free = sum(1 for item in env.items if item.free)
        console.print(f"{env.name}: {free} resources known to be free (--show-free lists them)")
        if env.unpriced:
            unpriced = Table(title=f"{env.name}: NOT priced ({len(env.unpriced)})", style="yellow")
            unpriced.add_column("resource")
            unpriced.add_column("type")
            unpriced.add_column("reason")
            for entry in env.unpriced:
                unpriced.add_row(entry.name, entry.type, entry.reason)
            console.print(unpriced)
        if env.usage_source != "config":
            console.print(f"{env.name}: usage assumptions are the model defaults (no usage config given)")
    console.print(
        f"total of {', '.join(report.environments)}: {usd(report.total_monthly_usd)} USD/month "
        f"(on-demand, 730 h/month, catalog {report.catalog_date})"
    )


def render_markdown(report: CostReport) -> str:
    """A Markdown report: totals per environment and component, line items, unpriced entries."""
    out = [f"## Monthly cost estimate (USD, on-demand, catalog {report.catalog_date})", ""]
    out += ["| environment | USD/month | unpriced |", "|---|---:|---:|"]
    for env in report.environments.values():
        out.append(f"| {env.name} | {usd(env.monthly_usd)} | {len(env.unpriced)} |")
    out += [f"| **total** | **{usd(report.total_monthly_usd)}** | |", ""]
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


def render_html(report: CostReport) -> str:
    """A self-contained HTML page: the stacked chart (plotly inlined) and every environment's table."""
    chart = stacked_chart(report).to_html(full_html=False, include_plotlyjs=True)
    tables = "".join(_env_table(env) for env in report.environments.values())
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 6px}"
        "td:nth-child(5),td:nth-child(7),td:nth-child(8){text-align:right}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>walletops cost report</title>"
        f"<style>{style}</style></head><body><h1>Monthly cost estimate</h1>"
        f"<p>On-demand prices, 730 hours a month, catalog snapshot {html.escape(report.catalog_date)}. "
        f"Total {usd(report.total_monthly_usd)} USD/month.</p>{chart}{tables}</body></html>\n"
    )
