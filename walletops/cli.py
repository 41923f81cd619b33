"""The ``walletops`` command line: one subcommand per area (see ARCHITECTURE "The CLI").

Exit codes: 0 ok, 1 a check failed (policy violation, SLO breach, budget exceeded), 2 bad input.

Each area's module is imported only when its command runs: the load-test area imports Locust,
which monkey-patches the whole process with gevent, and that must never reach ``plan`` or
``cost``. ``walletops --help`` imports them all to list every command.
"""

from __future__ import annotations

import importlib
import sys

import typer

from contracts.errors import UsageProblem
from contracts.output import err_console

app = typer.Typer(
    name="walletops",
    help="Platform toolkit for the wallet microservices: plan, guardrails, cost, local stack, load tests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Platform toolkit for the wallet microservices: plan, guardrails, cost, local stack, load tests."""


COMMANDS: dict[str, tuple[str, str, str]] = {
    "config": ("walletops.cli_config", "app", "group"),
    "plan": ("walletops.cli_plan", "plan", "command"),
    "policy": ("walletops.cli_policy", "policy", "command"),
    "policy-pack": ("walletops.cli_policy", "policy_pack", "command"),
    "audit": ("walletops.cli_policy", "audit", "command"),
    "cost": ("walletops.cli_cost", "app", "group"),
    "stack": ("walletops.cli_stack", "app", "group"),
    "verify": ("walletops.cli_verify", "verify", "command"),
    "loadtest": ("walletops.cli_loadtest", "loadtest", "command"),
    "capacity": ("walletops.cli_loadtest", "capacity", "command"),
    "demo": ("walletops.demo", "demo", "command"),
    "pipeline": ("walletops.cli_pipeline", "app", "group"),
    "observability": ("walletops.cli_observability", "app", "group"),
}
"""Command name → (module, attribute, typer group or single command)."""


def _register(argv: list[str]) -> None:
    """Attach the command named in ``argv`` (or every command when none is named)."""
    wanted = [argv[0]] if argv and argv[0] in COMMANDS else list(COMMANDS)
    for name in wanted:
        module_name, attribute, kind = COMMANDS[name]
        target = getattr(importlib.import_module(module_name), attribute)
        if kind == "group":
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)


def main() -> None:
    """Console-script entry point: usage problems print one line each and exit 2, never a traceback."""
    _register(sys.argv[1:])
    try:
        app()
    except UsageProblem as exc:
        for line in exc.problems:
            err_console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
