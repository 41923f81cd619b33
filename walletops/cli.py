"""The ``walletops`` command line: one subcommand per area (see ARCHITECTURE "The CLI").

Exit codes: 0 ok, 1 a check failed (policy violation, SLO breach, budget exceeded), 2 bad input.
"""

from __future__ import annotations

import sys

import typer

from walletops.output import err_console
from walletops.project import UsageProblem

app = typer.Typer(
    name="walletops",
    help="Platform toolkit for the wallet microservices: plan, guardrails, cost, local stack, load tests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _register() -> None:
    """Attach each area's commands; each area keeps its own CLI module beside its code."""
    from walletops import cli_config, cli_plan

    app.add_typer(cli_config.app, name="config")
    app.command("plan")(cli_plan.plan)
    from walletops import cli_loadtest

    app.command("loadtest")(cli_loadtest.loadtest)
    from walletops import cli_cost

    app.add_typer(cli_cost.app, name="cost")
    from walletops import cli_policy

    app.command("policy")(cli_policy.policy)
    from walletops import cli_stack, cli_verify

    app.add_typer(cli_stack.app, name="stack")
    app.command("verify")(cli_verify.verify)


def main() -> None:
    """Console-script entry point: usage problems print one line each and exit 2, never a traceback."""
    _register()
    try:
        app()
    except UsageProblem as exc:
        for line in exc.problems:
            err_console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
