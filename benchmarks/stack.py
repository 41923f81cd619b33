"""Throughput and latency of the local stack through the gateway and directly, next to PostgreSQL's own
ceiling for the same posting (pgbench).

For each backend (embedded: SQLite + in-process cache + in-process gateway; real: PostgreSQL + Redis +
nginx, the wallet with the workers its config gives it) the script starts the stack in a temporary
state folder, opens and funds ``--accounts`` accounts, then measures for ``--seconds`` per cell, on
loopback only, with ``--concurrency`` keep-alive connections:

* ``POST /v1/transfers`` (unique Idempotency-Key per request, random pairs of funded accounts),
* ``GET /v1/accounts/{id}`` cached, and uncached (``Cache-Control: no-cache`` bypasses the cache),

each through the gateway (the ``loadtest`` consumer's key and an end user's token) and directly
against the wallet. On the real backend it then runs ``pgbench`` against the stack's own PostgreSQL
(TLS, like the service) with the very statement the wallet sends -- ``ledger_post`` between random
pairs of the same accounts, with as many clients as connections -- for the physical limit.

It prints requests/s, p50/p99 latency and non-2xx answers per cell, pgbench's rate, and the targets:
transfers through the gateway >= 1,000/s at p99 <= 50 ms with no errors and >= 50 % of pgbench's
rate (real backend); cached balance reads >= 3x uncached; the gateway costs <= 15 % of cached reads.
Run it on a quiet machine: the load generator shares the cores with the stack.

The load generator is a minimal keep-alive HTTP/1.1 client on asyncio streams so that the client
costs as little CPU as possible.

Usage: ``python benchmarks/stack.py [--seconds 5] [--concurrency 16] [--accounts 1000]
[--backend embedded|real|both]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from walletstubs.localstack.servers import DB_USER, POSTGRES_BIN, free_port
from walletstubs.localstack.stack import LocalStack

PROJECT = Path(__file__).resolve().parents[1]
TRANSFERS = "POST /v1/transfers"
CACHED = "GET /v1/accounts/{id} cached"
UNCACHED = "GET /v1/accounts/{id} uncached"


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


def _seed(gateway_url: str, headers: dict[str, str], count: int) -> list[str]:
    """Open and fund ``count`` accounts through the gateway, a few at a time."""

    async def one(client: httpx.AsyncClient, index: int) -> str:
        created = await client.post("/v1/accounts", json={"owner": f"bench-{index}", "currency": "EUR"})
        created.raise_for_status()
        account = str(created.json()["id"])
        topup = await client.post(
            "/v1/topups",
            json={"account": account, "amount": "1000000.00", "currency": "EUR"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        topup.raise_for_status()
        return account

    async def run() -> list[str]:
        async with httpx.AsyncClient(base_url=gateway_url, headers=headers, timeout=60) as client:
            accounts: list[str] = []
            for start in range(0, count, 16):
                batch = range(start, min(count, start + 16))
                accounts += await asyncio.gather(*(one(client, index) for index in batch))
            return accounts

    return asyncio.run(run())


def _pgbench(stack: LocalStack, accounts: list[str], seconds: float, clients: int) -> float:
    """pgbench's transfers/s for ``ledger_post`` between random pairs of ``accounts`` on the stack's
    PostgreSQL, over TLS like the wallet; the account ids come from a table the run creates."""
    record = stack.record()
    assert record is not None and record.postgres_port
    password = json.loads(stack.secrets_file.read_text())["postgres"]
    env = os.environ | {"PGPASSWORD": password, "PGSSLMODE": "require", "PGCONNECT_TIMEOUT": "5"}
    connect = [
        "--host=127.0.0.1",
        f"--port={record.postgres_port}",
        f"--username={DB_USER}",
    ]
    values = ",".join(f"({index},'{account}')" for index, account in enumerate(accounts, start=1))
    # The ids are the wallet's own UUIDs, not outside input.
    setup = (
        "CREATE TABLE IF NOT EXISTS bench_accounts (n int PRIMARY KEY, id text NOT NULL);"  # noqa: S608
        f"TRUNCATE bench_accounts; INSERT INTO bench_accounts VALUES {values};"
    )
    subprocess.run(
        [
            str(POSTGRES_BIN / "psql"),
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            *connect,
            "--dbname=wallet",
            "-c",
            setup,
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    answer = json.dumps({"id": "0" * 36, "kind": "transfer", "amount": "0.01", "created_at": "2026"}).replace(
        ":", "' || chr(58) || '"
    )
    script = f"""\\set a random(1, {len(accounts)})
\\set b random(1, {len(accounts) - 1})
\\set b CASE WHEN :b >= :a THEN :b + 1 ELSE :b END
SELECT outcome FROM ledger_post('loadtest' || chr(58) || 'POST /v1/transfers', md5(random()::text || clock_timestamp()::text), repeat('f', 64), now() + interval '24 hours', gen_random_uuid()::text, 'transfer', (SELECT id FROM bench_accounts WHERE n = CAST(:a AS int)), (SELECT id FROM bench_accounts WHERE n = CAST(:b AS int)), 1, 'EUR', NULL, now(), '{answer}', false);
"""  # noqa: E501, S608 -- one SQL statement of our own per pgbench transaction
    script_file = Path(tempfile.mkstemp(suffix=".pgbench")[1])
    script_file.write_text(script)
    try:
        done = subprocess.run(
            [
                str(POSTGRES_BIN / "pgbench"),
                *connect,
                "--no-vacuum",
                "--protocol=prepared",
                f"--client={clients}",
                "--jobs=2",
                f"--time={max(1, int(seconds))}",
                f"--file={script_file}",
                "wallet",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            check=False,
        )
    finally:
        script_file.unlink(missing_ok=True)
    found = re.search(r"tps = ([0-9.]+)", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if done.returncode != 0 or found is None or (failed and int(failed.group(1))):
        raise RuntimeError(f"pgbench failed: {done.stdout[-800:]}{done.stderr[-800:]}")
    return float(found.group(1))


def _run_backend(
    backend: str, seconds: float, concurrency: int, count: int
) -> tuple[list[Cell], float | None]:
    parent = Path(tempfile.mkdtemp(prefix="walletops-bench-", dir="/tmp"))  # nosec B108 - mkdtemp: a new private folder
    parent.chmod(0o711)
    stack = LocalStack(PROJECT, parent / "stack")
    try:
        print(f"starting the {backend} stack ...", file=sys.stderr)
        stack.up(backend, free_port())  # type: ignore[arg-type]
        status = stack.status()
        key, token = status["loadtest_api_key"], status["loadtest_token"]
        gateway_port = int(status["gateway_url"].rsplit(":", 1)[1])
        wallet_port = next(s["port"] for s in status["services"] if s["name"] == "wallet")
        auth = {"X-Api-Key": key, "Authorization": f"Bearer {token}"}
        print(f"  opening and funding {count} accounts ...", file=sys.stderr)
        accounts = _seed(status["gateway_url"], auth, count)
        rng = random.Random(7)

        def transfer() -> tuple[str, str, dict[str, str], bytes]:
            source, target = rng.sample(accounts, 2)
            body = json.dumps(
                {"from_account": source, "to_account": target, "amount": "0.01", "currency": "EUR"}
            ).encode()
            headers = auth | {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
            return "POST", "/v1/transfers", headers, body

        def read(cached: bool) -> Request:
            def make() -> tuple[str, str, dict[str, str], bytes]:
                headers = auth | ({} if cached else {"Cache-Control": "no-cache"})
                return "GET", f"/v1/accounts/{rng.choice(accounts)}", headers, b""

            return make

        operations: list[tuple[str, Request]] = [
            (TRANSFERS, transfer),
            (CACHED, read(True)),
            (UNCACHED, read(False)),
        ]
        cells = []
        for operation, make in operations:
            for path, port in (("gateway", gateway_port), ("direct", wallet_port)):
                cell = Cell(backend, operation, path, 0, seconds, [], 0)
                cells.append(asyncio.run(_measure(port, make, seconds, concurrency, cell)))
                print(f"  {backend:8} {operation:32} {path:7} {cell.rps:8.0f} req/s", file=sys.stderr)
        ceiling = None
        if backend == "real":
            ceiling = _pgbench(stack, accounts, seconds, concurrency)
            print(f"  {backend:8} pgbench ledger_post {ceiling:8.0f} transfers/s", file=sys.stderr)
        return cells, ceiling
    finally:
        stack.down()
        shutil.rmtree(parent, ignore_errors=True)


def _verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def _report(cells: list[Cell], ceilings: dict[str, float | None]) -> None:
    print(f"{'backend':9}{'operation':33}{'path':8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for c in cells:
        print(
            f"{c.backend:9}{c.operation:33}{c.path:8}{c.rps:9.0f}{c.percentile(0.5):9.2f}"
            f"{c.percentile(0.99):9.2f}{c.errors:9d}"
        )
    print()
    by = {(c.backend, c.operation, c.path): c for c in cells}
    for backend in sorted({c.backend for c in cells}):
        posted = by[(backend, TRANSFERS, "gateway")]
        ceiling = ceilings.get(backend)
        if ceiling:
            print(f"{backend:9}pgbench, the same ledger_post: {ceiling:8.0f} transfers/s")
            fast = posted.rps >= 1000 and posted.percentile(0.99) <= 50 and posted.errors == 0
            p99 = posted.percentile(0.99)
            print(
                f"{backend:9}transfers through the gateway: {posted.rps:.0f}/s, p99 {p99:.1f} ms, "
                f"{posted.errors} errors ({_verdict(fast)} >= 1,000/s at p99 <= 50 ms, 0 errors)"
            )
            share = posted.rps / ceiling
            print(f"{backend:9}share of pgbench's rate: {share:6.1%} ({_verdict(share >= 0.5)} >= 50 %)")
        cached, uncached = by[(backend, CACHED, "direct")].rps, by[(backend, UNCACHED, "direct")].rps
        ratio = cached / uncached
        faster = _verdict(ratio >= 3)
        print(f"{backend:9}cached / uncached balance reads (direct): {ratio:4.2f}x ({faster} >= 3x)")
        gateway, direct = by[(backend, CACHED, "gateway")], by[(backend, CACHED, "direct")]
        cost = 1 - gateway.rps / direct.rps
        print(f"{backend:9}gateway costs {cost:6.1%} of cached reads ({_verdict(cost <= 0.15)} <= 15 %)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per cell (1-60)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections per cell (1-256)")
    parser.add_argument(
        "--accounts", type=int, default=1000, help="funded accounts transfers move between (2-20000)"
    )
    parser.add_argument("--backend", choices=["embedded", "real", "both"], default="both")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 60 or not 1 <= args.concurrency <= 256 or not 2 <= args.accounts <= 20000:
        parser.error("--seconds must be 1-60, --concurrency 1-256 and --accounts 2-20000")
    backends = ["embedded", "real"] if args.backend == "both" else [args.backend]
    cells: list[Cell] = []
    ceilings: dict[str, float | None] = {}
    for backend in backends:
        measured, ceilings[backend] = _run_backend(backend, args.seconds, args.concurrency, args.accounts)
        cells += measured
    average = statistics.mean(len(c.latencies) for c in cells)
    print(
        f"\n{average:.0f} requests per cell on average, {args.seconds:.0f} s per cell, "
        f"{args.concurrency} connections, {args.accounts} accounts\n"
    )
    _report(cells, ceilings)


if __name__ == "__main__":
    main()
