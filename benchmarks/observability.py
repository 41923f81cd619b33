"""What observability costs the services, and how long the assets take to render.

    .venv/bin/python -m benchmarks.observability [--seconds 6] [--concurrency 8]

(run as a module: it reuses the load generator of ``benchmarks.stack``.)

The wallet (embedded backend) is started three times from the stack's topology, side by side on
loopback: with logging at WARNING and no APM ("off"), and with INFO logs (access log, audit events,
every line ECS JSON and masked, written to a file) and the Elastic APM agent sending to a dummy
intake that accepts and drops everything, at the services' default sample rate ("on") and tracing
every transaction ("on, all traced"). Cached balance reads (``GET /v1/accounts/{id}``) and transfers (``POST
/v1/transfers``) are measured for ``--seconds`` each with ``--concurrency`` keep-alive connections,
in ``--rounds`` slices alternating between them (each first in turn), so that other load on the
machine hits all alike.
Target: "on" costs <= 5 % of "off" throughput. Then it times ``walletops observability render --env
all`` as a subprocess (if that command is not there, it says so). Prints figures; asserts nothing.
The load generator shares the cores with the service: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from walletstubs.localstack.servers import free_port
from walletstubs.localstack.topology import service_processes

from benchmarks.stack import Cell, Request, _measure

PROJECT = Path(__file__).resolve().parents[1]
ACCOUNTS = 40


class _Intake(BaseHTTPRequestHandler):
    """APM Server's intake that accepts everything and keeps nothing."""

    def do_GET(self) -> None:
        self._answer(200, b'{"version": "8.17.0"}')

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self._answer(202, b"")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        return


def _start_wallet(folder: Path, extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    ports = {"wallet": free_port(), "roundups": free_port()}
    [wallet, _roundups] = service_processes([], ports=ports, state_dir=folder)
    with (folder / "wallet.ndjson").open("ab") as log:
        process = subprocess.Popen(
            wallet.argv, env=wallet.environ() | extra, stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{wallet.url}/readyz", timeout=1).status_code == 200:
                return process, wallet.port
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the wallet did not become ready; see {folder / 'wallet.ndjson'}")


def _seed(port: int) -> list[str]:
    accounts = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for index in range(ACCOUNTS):
            account = client.post("/v1/accounts", json={"owner": f"bench-{index}", "currency": "EUR"}).json()[
                "id"
            ]
            topup = {"account": account, "amount": "1000000.00", "currency": "EUR"}
            client.post(
                "/v1/topups", json=topup, headers={"Idempotency-Key": uuid.uuid4().hex}
            ).raise_for_status()
            accounts.append(account)
    return accounts


def _requests(accounts: list[str]) -> dict[str, Request]:
    def read() -> tuple[str, str, dict[str, str], bytes]:
        return "GET", f"/v1/accounts/{random.choice(accounts)}", {}, b""

    def transfer() -> tuple[str, str, dict[str, str], bytes]:
        source, target = random.sample(accounts, 2)
        body = json.dumps({"from_account": source, "to_account": target, "amount": "0.01", "currency": "EUR"})
        headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        return "POST", "/v1/transfers", headers, body.encode()

    return {"GET /v1/accounts/{id}": read, "POST /v1/transfers": transfer}


def _run(
    modes: dict[str, dict[str, str]], seconds: float, rounds: int, concurrency: int
) -> dict[str, list[Cell]]:
    """Both wallets run side by side and are measured in alternating slices (``rounds`` per operation),
    so that a busy machine slows both alike; the cells add the slices up."""
    with tempfile.TemporaryDirectory(prefix="obs-bench-") as tmp:
        started: dict[str, tuple[subprocess.Popen[bytes], int, list[str]]] = {}
        try:
            for mode, extra in modes.items():
                folder = Path(tmp) / mode
                folder.mkdir()
                process, port = _start_wallet(folder, extra)
                started[mode] = (process, port, _seed(port))
            cells: dict[str, list[Cell]] = {mode: [] for mode in modes}
            for operation in _requests([]):
                for mode in modes:
                    cells[mode].append(Cell(mode, operation, "direct", 0, 0.0, [], 0))
                for round_number in range(rounds):
                    order = list(started.items())
                    shift = round_number % len(order)  # each mode goes first in turn: no order bias
                    for mode, (_process, port, accounts) in order[shift:] + order[:shift]:
                        make = _requests(accounts)[operation]
                        part = asyncio.run(
                            _measure(
                                port,
                                make,
                                seconds / rounds,
                                concurrency,
                                Cell(mode, operation, "", 0, 0.0, [], 0),
                            )
                        )
                        total = cells[mode][-1]
                        total.requests += part.requests
                        total.seconds += part.seconds
                        total.latencies += part.latencies
                        total.errors += part.errors
            for mode in modes:
                lines = sum(1 for _ in (Path(tmp) / mode / "wallet.ndjson").open())
                print(f"  {mode}: {lines} log lines written", flush=True)
            return cells
        finally:
            for process, _port, _accounts in started.values():
                process.terminate()
                process.wait(timeout=15)


def _render_time() -> None:
    with tempfile.TemporaryDirectory(prefix="obs-render-") as tmp:
        command = [
            sys.executable,
            "-m",
            "walletops",
            "observability",
            "render",
            "--env",
            "all",
            "--output",
            tmp,
        ]
        started = time.perf_counter()
        result = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
    if "No such command" in result.stderr:
        print("render --env all: `walletops observability render` does not exist on this branch; not timed")
    elif result.returncode != 0:
        print(
            f"render --env all: failed (exit {result.returncode}) after {elapsed:.2f} s:",
            result.stderr[-500:],
        )
    else:
        print(f"render --env all (subprocess, incl. interpreter start): {elapsed:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    intake = ThreadingHTTPServer(("127.0.0.1", 0), _Intake)
    threading.Thread(target=intake.serve_forever, daemon=True).start()
    modes = {
        "off": {"WALLETSTUB_LOG_LEVEL": "WARNING"},
        "on": {
            "WALLETSTUB_LOG_LEVEL": "INFO",
            "WALLETSTUB_APM_SERVER_URL": f"http://127.0.0.1:{intake.server_port}",
        },
        "on, all traced": {
            "WALLETSTUB_LOG_LEVEL": "INFO",
            "WALLETSTUB_APM_SERVER_URL": f"http://127.0.0.1:{intake.server_port}",
            "ELASTIC_APM_TRANSACTION_SAMPLE_RATE": "1.0",
        },
    }
    print(
        f"wallet (embedded), {args.concurrency} connections, {args.seconds:.0f} s per cell "
        f"in {args.rounds} alternating slices",
        flush=True,
    )
    results = _run(modes, args.seconds, args.rounds, args.concurrency)
    intake.shutdown()
    print(f"{'operation':24s} {'mode':16s} {'req/s':>7s} {'cost':>7s} {'p99':>8s}  errors")
    for index, base in enumerate(results["off"]):
        for mode, cells in results.items():
            cell = cells[index]
            cost = (1 - cell.rps / base.rps) * 100 if base.rps else float("nan")
            verdict = (
                "" if mode == "off" else ("  target <= 5 %: ok" if cost <= 5 else "  target <= 5 %: over")
            )
            print(
                f"{cell.operation:24s} {mode:16s} {cell.rps:7.0f} {cost:6.1f}% {cell.percentile(0.99):6.1f}ms"
                f"  {cell.errors}{verdict}"
            )
    _render_time()


if __name__ == "__main__":
    main()
