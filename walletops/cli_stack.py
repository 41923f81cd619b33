"""``walletops stack up|status|down|demo``: the local stack of stub services behind the local gateway."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Literal, cast

import typer
from rich.table import Table

from contracts.errors import UsageProblem
from contracts.output import Format, console, err_console, to_json, write_text
from contracts.project import ENVIRONMENTS, resolve_project_dir
from walletops.options import Output, ProjectDir

if TYPE_CHECKING:
    from walletstubs.localstack.stack import LocalStack

app = typer.Typer(help="Run the stub services locally behind the gateway (embedded or real backend).")

StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir", help="State folder of the stack (default: <project>/.state/stack).", file_okay=False
    ),
]
StackEnv = Annotated[
    str, typer.Option("--env", "-e", help="Environment whose exchanges to run (default dev).")
]
BackendOpt = Annotated[
    str, typer.Option("--backend", help="embedded (SQLite, in-process) or real (PostgreSQL/Redis/nginx).")
]
PortOpt = Annotated[int, typer.Option("--port", help="Gateway port on 127.0.0.1 (1024-65535).")]
ObservabilityOpt = Annotated[
    str | None,
    typer.Option(
        "--observability",
        help="Elasticsearch URL: ship the stack's ECS logs there when it stops (default: $ELASTICSEARCH_URL; "
        "credentials as for `walletops observability ship`). Without it the logs stay under <state>/logs.",
        show_default=False,
    ),
]
ApmOpt = Annotated[
    str | None,
    typer.Option(
        "--apm-url",
        help="APM Server URL for every service (default: $ELASTIC_APM_SERVER_URL; token: "
        "$ELASTIC_APM_SECRET_TOKEN). Without it APM is off.",
        show_default=False,
    ),
]


def _stack(project_dir: Path | None, state_dir: Path | None, env: str = "dev") -> LocalStack:
    from walletstubs.localstack.stack import LocalStack

    if env not in ENVIRONMENTS:
        raise UsageProblem(f"--env {env!r}: unknown environment; allowed: {', '.join(ENVIRONMENTS)}")
    return LocalStack(resolve_project_dir(project_dir), state_dir.resolve() if state_dir else None, env)


def _check_port(port: int) -> None:
    if not 1024 <= port <= 65535:
        raise UsageProblem(f"--port {port}: allowed: 1024-65535 (the gateway runs unprivileged on loopback)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise UsageProblem(
                f"--port {port}: 127.0.0.1:{port} is already in use; choose another port"
            ) from None


def _check_backend(backend: str) -> Literal["embedded", "real"]:
    if backend not in ("embedded", "real"):
        raise UsageProblem(f"--backend {backend!r}: allowed: embedded, real")
    return cast(Literal["embedded", "real"], backend)


def _progress(message: str) -> None:
    err_console.print(f"  starting {message}", markup=False, highlight=False)


@app.command("up")
def up(
    *,
    backend: BackendOpt = "embedded",
    port: PortOpt = 8080,
    detach: Annotated[
        bool, typer.Option("--detach", help="Return once healthy; stop with `stack down`.")
    ] = False,
    env: StackEnv = "dev",
    observability: ObservabilityOpt = None,
    apm_url: ApmOpt = None,
    state_dir: StateDir = None,
    project_dir: ProjectDir = None,
) -> None:
    """Start every service and the gateway on loopback; prints the gateway URL and a development API key.

    Every process writes ECS NDJSON logs under <state>/logs; with --observability (or
    $ELASTICSEARCH_URL) they are shipped to Elasticsearch when the stack stops (`stack down` too)."""
    from walletstubs.localstack.stack import StackError

    stack = _stack(project_dir, state_dir, env)
    chosen = _check_backend(backend)
    _check_port(port)
    elasticsearch = _http_url("--observability", observability or os.environ.get("ELASTICSEARCH_URL"))
    apm = _http_url("--apm-url", apm_url or os.environ.get("ELASTIC_APM_SERVER_URL"))
    err_console.print(f"stack up ({chosen}) in {stack.state_dir}", markup=False, highlight=False)
    try:
        record = stack.up(
            chosen,
            port,
            progress=_progress,
            apm_url=apm,
            apm_token=os.environ.get("ELASTIC_APM_SECRET_TOKEN") or None,
            elasticsearch_url=elasticsearch,
        )
    except StackError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    keys = stack.keys()
    console.print(f"gateway:  {record.gateway_url}", markup=False, highlight=False)
    console.print(
        f"api key:  {keys['mobile-app']}  (header X-Api-Key; more: walletops stack status)\n"
        "end users: Authorization: Bearer <token>  (tokens: walletops stack status --format json)",
        markup=False,
    )
    console.print(
        f"logs:     {stack.logs_dir}/<service>.ndjson (ECS JSON)"
        + (f"; shipped to {elasticsearch} when the stack stops" if elasticsearch else "")
        + (f"; APM to {apm}" if apm else ""),
        markup=False,
        highlight=False,
    )
    if detach:
        return
    console.print("running in the foreground; Ctrl-C stops the stack", markup=False)
    _wait_then_stop(stack)


def _wait_then_stop(stack: LocalStack) -> None:
    """Block until Ctrl-C/SIGTERM or until a process of the stack dies, then stop everything."""

    def _terminate(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    failed = False
    try:
        while True:
            time.sleep(1)
            dead = stack.dead()
            if dead:
                err_console.print(f"error: exited: {', '.join(dead)}; stopping the stack", markup=False)
                failed = True
                break
    except KeyboardInterrupt:
        pass
    finally:
        _stop_and_ship(stack, lambda line: err_console.print(line, markup=False))
    if failed:
        raise typer.Exit(1)


def _http_url(option: str, url: str | None) -> str | None:
    if url and not url.startswith(("http://", "https://")):
        raise UsageProblem(f"{option} {url!r}: allowed: an http:// or https:// URL")
    return url or None


def _stop_and_ship(stack: LocalStack, announce: Callable[[str], None]) -> None:
    """Stop the stack; when it was started with an Elasticsearch URL, ship its log files there with
    `walletops observability ship` and move them to <state>/shipped/ (left in place if that fails)."""
    record = stack.record()
    stopped = stack.down()
    announce(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    if record is None or not record.elasticsearch_url or not stack.log_files():
        return
    command = [
        sys.executable, "-m", "walletops", "observability", "ship",
        "--from", str(stack.logs_dir), "--url", record.elasticsearch_url, "--env", record.environment,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        err_console.print(
            f"logs shipped to {record.elasticsearch_url}; moved to {stack.archive_logs()}", markup=False
        )
        return
    err_console.print(
        f"error: shipping the logs to {record.elasticsearch_url} failed (exit {result.returncode}); "
        f"they stay in {stack.logs_dir} for `walletops observability ship --from {stack.logs_dir}`:\n"
        + (result.stderr or result.stdout)[-2000:],
        markup=False,
        highlight=False,
    )


@app.command("status")
def status(
    output_format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    output: Output = None,
    state_dir: StateDir = None,
    project_dir: ProjectDir = None,
) -> None:
    """The gateway URL, API keys and the state of each service; exit 1 unless every part is healthy."""
    if output_format not in (Format.table, Format.json):
        raise UsageProblem(f"--format {output_format.value}: allowed: table, json")
    report = _stack(project_dir, state_dir).status()
    if output_format is Format.json:
        write_text(to_json(report), output)
    else:
        table = Table(title=f"stack ({report['backend'] or 'not running'}) {report['gateway_url'] or ''}")
        for column in ("service", "state", "url", "pid", "log"):
            table.add_column(column)
        for service in report["services"]:
            table.add_row(
                service["name"], service["state"], service["url"], str(service["pid"]), service["log"]
            )
        for server in report.get("servers", []):
            table.add_row(server["name"], "-", server["url"], "-", "-")
        if output is None:
            console.print(table)
            if report["api_key"]:
                console.print(f"api key (mobile-app): {report['api_key']}", markup=False, highlight=False)
            console.print(
                f"logs (ECS NDJSON): {report['logs_dir']} "
                f"({len(report['log_files'])} file(s) not shipped yet)",
                markup=False,
                highlight=False,
            )
        else:
            with output.open("w", encoding="utf-8") as handle:
                from rich.console import Console

                Console(file=handle, width=160).print(table)
    if not report["healthy"]:
        raise typer.Exit(1)


@app.command("down")
def down(state_dir: StateDir = None, project_dir: ProjectDir = None) -> None:
    """Stop every process of the stack (gateway, services, Redis, PostgreSQL); safe to repeat. A stack
    started with --observability ships its logs now."""
    _stop_and_ship(_stack(project_dir, state_dir), lambda line: console.print(line, markup=False))


@app.command("demo")
def demo(
    port: Annotated[int, typer.Option("--port", help="Gateway port (default: a free one).")] = 0,
    state_dir: StateDir = None,
    project_dir: ProjectDir = None,
    output_format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    output: Output = None,
) -> None:
    """Start the embedded stack, move money through the gateway, check the ledger (exit 1 if unbalanced)."""
    from walletstubs.localstack.demo import DemoError, run_demo
    from walletstubs.localstack.servers import free_port
    from walletstubs.localstack.stack import StackError

    if output_format not in (Format.table, Format.json):
        raise UsageProblem(f"--format {output_format.value}: allowed: table, json")
    folder = resolve_project_dir(project_dir)
    stack = _stack(folder, state_dir or folder / ".state" / "stack-demo")
    gateway_port = port or free_port()
    _check_port(gateway_port)
    try:
        stack.up("embedded", gateway_port, progress=_progress)
        result = run_demo(
            stack.status(), log=lambda line: err_console.print(line, markup=False, highlight=False)
        )
    except (StackError, DemoError) as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    finally:
        stack.down()
    if output_format is Format.json:
        write_text(to_json(result), output)
    else:
        table = Table(title="ledger verification (GET /v1/ledger/verify, operator key)")
        for column in ("balanced", "transfers", "accounts", "round-up sweeps", "exchange order", "balances"):
            table.add_column(column)
        verify, order = result["verify"], result["order"]
        table.add_row(
            str(verify["balanced"]),
            str(verify["transfers"]),
            str(verify["accounts"]),
            ", ".join(f"{s['amount']} {s['currency']} {s['status']}" for s in result["sweeps"]) or "none",
            f"{order['amount']} on {order['exchange']}: {order['status']}",
            ", ".join(f"{name} {balance}" for name, balance in result["balances"].items()),
        )
        console.print(table)
    if not result["verify"]["balanced"]:
        raise typer.Exit(1)
