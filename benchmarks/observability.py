"""What observability costs the services, and how long the assets take to render.

    .venv/bin/python -m benchmarks.observability [--seconds 6] [--concurrency 8]

(run as a module: it reuses the load generator of ``benchmarks.stack``.)

The wallet (embedded backend) is started twice from the stack's topology, on loopback: once with
logging at WARNING and no APM ("off"), once with INFO logs (access log, audit events, every line ECS
JSON and masked, written to a file) and the Elastic APM agent sending to a dummy intake that accepts
and drops everything ("on"). Each run measures cached balance reads (``GET /v1/accounts/{id}``) and
transfers (``POST /v1/transfers``) for ``--seconds`` with ``--concurrency`` keep-alive connections.
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

from benchmarks.stack import Cell, _measure

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


def _run(mode: str, extra: dict[str, str], seconds: float, concurrency: int) -> list[Cell]:
    with tempfile.TemporaryDirectory(prefix=f"obs-bench-{mode}-") as tmp:
        process, port = _start_wallet(Path(tmp), extra)
        try:
            accounts = _seed(port)

            def read() -> tuple[str, str, dict[str, str], bytes]:
                return "GET", f"/v1/accounts/{random.choice(accounts)}", {}, b""

            def transfer() -> tuple[str, str, dict[str, str], bytes]:
                source, target = random.sample(accounts, 2)
                body = json.dumps(
                    {"from_account": source, "to_account": target, "amount": "0.01", "currency": "EUR"}
                )
                headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
                return "POST", "/v1/transfers", headers, body.encode()

            cells = []
            for operation, make in (("GET /v1/accounts/{id}", read), ("POST /v1/transfers", transfer)):
                cell = Cell(mode, operation, "direct", 0, 0.0, [], 0)
                cells.append(asyncio.run(_measure(port, make, seconds, concurrency, cell)))
            lines = sum(1 for _ in (Path(tmp) / "wallet.ndjson").open())
            print(f"  {mode}: {lines} log lines written", flush=True)
            return cells
        finally:
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
    args = parser.parse_args()
    intake = ThreadingHTTPServer(("127.0.0.1", 0), _Intake)
    threading.Thread(target=intake.serve_forever, daemon=True).start()
    modes = {
        "off": {"WALLETSTUB_LOG_LEVEL": "WARNING"},
        "on": {
            "WALLETSTUB_LOG_LEVEL": "INFO",
            "WALLETSTUB_APM_SERVER_URL": f"http://127.0.0.1:{intake.server_port}",
        },
    }
    print(f"wallet (embedded), {args.concurrency} connections, {args.seconds:.0f} s per cell", flush=True)
    results = {mode: _run(mode, extra, args.seconds, args.concurrency) for mode, extra in modes.items()}
    intake.shutdown()
    print(
        f"{'operation':24s} {'off req/s':>10s} {'on req/s':>10s} {'cost':>7s} {'p99 off':>8s} {'p99 on':>8s}"
    )
    for off, on in zip(results["off"], results["on"], strict=True):
        cost = (1 - on.rps / off.rps) * 100 if off.rps else float("nan")
        verdict = "ok" if cost <= 5 else "over target"
        print(
            f"{off.operation:24s} {off.rps:10.0f} {on.rps:10.0f} {cost:6.1f}% {off.percentile(0.99):7.1f}ms "
            f"{on.percentile(0.99):7.1f}ms  target <= 5 %: {verdict}  (errors {off.errors}/{on.errors})"
        )
    _render_time()


if __name__ == "__main__":
    main()
