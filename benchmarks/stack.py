"""Throughput and latency of the local stack, through the gateway and directly to the wallet service.

For each backend (embedded: SQLite + in-process cache + in-process gateway; real: PostgreSQL + Redis +
nginx) the script starts the stack in a temporary state folder, seeds accounts, then measures for a
few seconds per cell, on loopback only:

* ``POST /v1/transfers`` (unique Idempotency-Key per request, random pairs of funded accounts),
* ``GET /v1/accounts/{id}`` cached, and uncached (``Cache-Control: no-cache`` bypasses the cache),

each through the gateway (with the ``loadtest`` consumer's key) and directly against the wallet.
It prints requests/s, p50/p99 latency and non-2xx answers per cell, then the two targets: the gateway
costs at most 15 % of throughput, and cached balance reads are at least 3x uncached ones.

The load generator is a minimal keep-alive HTTP/1.1 client on asyncio streams so that the client,
which shares the machine's cores with the stack, costs as little CPU as possible.

Usage: ``python benchmarks/stack.py [--seconds 3] [--concurrency 16] [--backend embedded|real|both]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from walletstubs.localstack.servers import free_port
from walletstubs.localstack.stack import LocalStack

PROJECT = Path(__file__).resolve().parents[1]
ACCOUNTS = 16


@dataclass
class Cell:
    backend: str
    operation: str
    path: str
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


Request = Callable[[], tuple[str, str, dict[str, str], bytes]]


async def _worker(port: int, make: Request, stop_at: float, measure_from: float, cell: Cell) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            method, path, headers, body = make()
            head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            started = time.perf_counter()
            writer.write(head.encode() + b"\r\n" + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            finished = time.perf_counter()
            if started >= measure_from:
                cell.requests += 1
                cell.latencies.append(finished - started)
                if not status_line.split()[1].startswith(b"2"):
                    cell.errors += 1
    finally:
        writer.close()


async def _measure(port: int, make: Request, seconds: float, concurrency: int, cell: Cell) -> Cell:
    begin = time.perf_counter()
    measure_from = begin + 0.5
    stop_at = measure_from + seconds
    await asyncio.gather(*(_worker(port, make, stop_at, measure_from, cell) for _ in range(concurrency)))
    cell.seconds = seconds
    return cell


def _seed(gateway_url: str, key: str) -> list[str]:
    accounts = []
    with httpx.Client(base_url=gateway_url, headers={"X-Api-Key": key}, timeout=30) as client:
        for index in range(ACCOUNTS):
            created = client.post("/v1/accounts", json={"owner": f"bench-{index}", "currency": "EUR"})
            created.raise_for_status()
            account = created.json()["id"]
            topup = client.post(
                "/v1/topups",
                json={"account": account, "amount": "1000000.00", "currency": "EUR"},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            topup.raise_for_status()
            accounts.append(account)
    return accounts


def _run_backend(backend: str, seconds: float, concurrency: int) -> list[Cell]:
    parent = Path(tempfile.mkdtemp(prefix="walletops-bench-", dir="/tmp"))  # nosec B108 - mkdtemp: a new private folder
    parent.chmod(0o711)
    stack = LocalStack(PROJECT, parent / "stack")
    try:
        print(f"starting the {backend} stack ...", file=sys.stderr)
        stack.up(backend, free_port())  # type: ignore[arg-type]
        status = stack.status()
        key = status["loadtest_api_key"]
        gateway_port = int(status["gateway_url"].rsplit(":", 1)[1])
        wallet_port = next(s["port"] for s in status["services"] if s["name"] == "wallet")
        accounts = _seed(status["gateway_url"], key)
        rng = random.Random(7)

        def transfer() -> tuple[str, str, dict[str, str], bytes]:
            source, target = rng.sample(accounts, 2)
            body = json.dumps(
                {"from_account": source, "to_account": target, "amount": "0.01", "currency": "EUR"}
            ).encode()
            headers = {
                "X-Api-Key": key,
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            }
            return "POST", "/v1/transfers", headers, body

        def read(cached: bool) -> Request:
            def make() -> tuple[str, str, dict[str, str], bytes]:
                headers = {"X-Api-Key": key} | ({} if cached else {"Cache-Control": "no-cache"})
                return "GET", f"/v1/accounts/{rng.choice(accounts)}", headers, b""

            return make

        operations: list[tuple[str, Request]] = [
            ("POST /v1/transfers", transfer),
            ("GET /v1/accounts/{id} cached", read(True)),
            ("GET /v1/accounts/{id} uncached", read(False)),
        ]
        cells = []
        for operation, make in operations:
            for path, port in (("gateway", gateway_port), ("direct", wallet_port)):
                cell = Cell(backend, operation, path, 0, seconds, [], 0)
                cells.append(asyncio.run(_measure(port, make, seconds, concurrency, cell)))
                print(f"  {backend:8} {operation:32} {path:7} {cell.rps:8.0f} req/s", file=sys.stderr)
        return cells
    finally:
        stack.down()
        shutil.rmtree(parent, ignore_errors=True)


def _report(cells: list[Cell]) -> None:
    print(f"{'backend':9}{'operation':33}{'path':8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for c in cells:
        print(
            f"{c.backend:9}{c.operation:33}{c.path:8}{c.rps:9.0f}{c.percentile(0.5):9.2f}"
            f"{c.percentile(0.99):9.2f}{c.errors:9d}"
        )
    print()
    by = {(c.backend, c.operation, c.path): c for c in cells}
    for backend in sorted({c.backend for c in cells}):
        for operation in sorted({c.operation for c in cells}):
            gateway, direct = by[(backend, operation, "gateway")], by[(backend, operation, "direct")]
            cost = 1 - gateway.rps / direct.rps
            verdict = "meets" if cost <= 0.15 else "MISSES"
            print(f"{backend:9}{operation:33}gateway costs {cost:6.1%} of throughput ({verdict} <= 15 %)")
        cached = by[(backend, "GET /v1/accounts/{id} cached", "direct")].rps
        uncached = by[(backend, "GET /v1/accounts/{id} uncached", "direct")].rps
        verdict = "meets" if cached >= 3 * uncached else "MISSES"
        ratio = cached / uncached
        print(f"{backend:9}cached / uncached balance reads (direct): {ratio:4.2f}x ({verdict} >= 3x)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per cell (1-30)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections per cell (1-256)")
    parser.add_argument("--backend", choices=["embedded", "real", "both"], default="both")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 30 or not 1 <= args.concurrency <= 256:
        parser.error("--seconds must be 1-30 and --concurrency 1-256")
    backends = ["embedded", "real"] if args.backend == "both" else [args.backend]
    cells = [cell for backend in backends for cell in _run_backend(backend, args.seconds, args.concurrency)]
    print(f"\n{statistics.mean(len(c.latencies) for c in cells):.0f} requests per cell on average, "
          f"{args.seconds:.0f} s per cell, {args.concurrency} connections\n")  # fmt: skip
    _report(cells)


if __name__ == "__main__":
    main()
