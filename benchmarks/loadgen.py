"""How fast can Locust generate load on this machine? One worker process, then two, in one run.

Starts the embedded local stack (its own state folder under /tmp, a free loopback port), opens
one funded account, then drives the cheapest real endpoint — the cached balance read
``GET /v1/accounts/{id}`` through the gateway — with users that never wait, from a Locust master
and 1, then 2, worker processes. For each it prints the sustained rps, p50/p99 and where the CPU
went: the generator (master + workers), the target (gateway + services) and what stayed idle.
On a 2-core machine generator and target share the cores, so the figures say which side saturates.

    .venv/bin/python benchmarks/loadgen.py [--seconds 15] [--users 32]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

if os.environ.get("LOADGEN_ROLE") == "locust":
    from locust import FastHttpUser, constant, task

    class BalanceReader(FastHttpUser):
        """Reads one balance as fast as the process can (the cache's hot path)."""

        wait_time = constant(0)

        @task
        def read(self) -> None:
            self.client.get(
                f"/v1/accounts/{os.environ['LOADGEN_ACCOUNT']}",
                headers={
                    "X-Api-Key": os.environ["LOADGEN_KEY"],
                    "Authorization": f"Bearer {os.environ['LOADGEN_TOKEN']}",
                },
                name="GET /v1/accounts/{id}",
            )


PROJECT = Path(__file__).resolve().parents[1]


class CpuMeter:
    """CPU seconds used by process trees, remembering processes that have already exited."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.seen: dict[int, float] = {}

    def sample(self) -> float:
        import psutil

        for pid in self.pids:
            try:
                root = psutil.Process(pid)
                for process in [root, *root.children(recursive=True)]:
                    times = process.cpu_times()
                    self.seen[process.pid] = max(self.seen.get(process.pid, 0.0), times.user + times.system)
            except psutil.NoSuchProcess:
                continue
        return sum(self.seen.values())


def _aggregated(csv_prefix: Path) -> dict[str, str]:
    with (csv_prefix.parent / f"{csv_prefix.name}_stats.csv").open(newline="") as handle:
        return next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")


def run_generator(
    workers: int, host: str, env: dict[str, str], *, seconds: int, users: int, target_pids: list[int]
) -> dict[str, float]:
    """One Locust master + ``workers`` workers for ``seconds``; rps, latency and CPU split."""
    import psutil

    from loadtests.target import free_port

    folder = Path(tempfile.mkdtemp(prefix="loadgen-"))
    port = free_port()
    base = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        __file__,
        "--headless",
        "--host",
        host,
        "--loglevel",
        "ERROR",
    ]
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    target = CpuMeter(target_pids)
    target_before, system_before = target.sample(), psutil.cpu_times()
    started = time.time()
    master = subprocess.Popen(
        [*base, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "--expect-workers", str(workers), "--users", str(users), "--spawn-rate", str(users),
         "--run-time", f"{seconds}s", "--only-summary", "--csv", str(folder / "run")],
        **quiet,  # type: ignore[call-overload]
    )  # fmt: skip
    worker_command = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    procs = [subprocess.Popen(worker_command, **quiet) for _ in range(workers)]  # type: ignore[call-overload]
    generator = CpuMeter([master.pid, *(p.pid for p in procs)])
    while master.poll() is None and time.time() - started < seconds + 60:
        generator.sample()
        target.sample()
        time.sleep(0.5)
    elapsed = time.time() - started
    master.wait(timeout=60)
    for proc in procs:
        proc.wait(timeout=30)
    system_after = psutil.cpu_times()
    row = _aggregated(folder / "run")
    shutil.rmtree(folder, ignore_errors=True)
    total = sum(system_after) - sum(system_before)
    return {
        "rps": float(row["Requests/s"]),
        "requests": float(row["Request Count"]),
        "failures": float(row["Failure Count"]),
        "p50_ms": float(row["50%"]),
        "p99_ms": float(row["99%"]),
        "generator_cores": generator.sample() / elapsed,
        "target_cores": (target.sample() - target_before) / elapsed,
        "idle_pct": 100.0 * (system_after.idle - system_before.idle) / total if total else 0.0,
        "cores": float(psutil.cpu_count() or 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="Length of each measurement (default 15).")
    parser.add_argument("--users", type=int, default=32, help="Users that never wait (default 32).")
    options = parser.parse_args()

    import httpx
    from walletstubs.localstack.stack import LocalStack

    from loadtests.target import free_port

    state = Path(tempfile.mkdtemp(prefix="loadgen-stack-", dir="/tmp"))  # nosec B108 - mkdtemp: a new private folder
    state.chmod(0o711)
    stack = LocalStack(PROJECT, state / "stack")
    print("starting the embedded stack ...", flush=True)
    stack.up("embedded", gateway_port=free_port())
    try:
        status = stack.status()
        key, token = status["loadtest_api_key"], status["loadtest_token"]
        auth = {"X-Api-Key": key, "Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=status["gateway_url"], headers=auth, timeout=30) as client:
            account = client.post("/v1/accounts", json={"owner": "loadgen", "currency": "EUR"}).json()["id"]
            client.post(
                "/v1/topups",
                json={"account": account, "amount": "100.00", "currency": "EUR"},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            ).raise_for_status()
        target_pids = [service["pid"] for service in status["services"]]
        env = {
            **os.environ,
            "LOADGEN_ROLE": "locust",
            "LOADGEN_ACCOUNT": account,
            "LOADGEN_KEY": key,
            "LOADGEN_TOKEN": token,
        }
        env.pop("LOCUST_SKIP_MONKEY_PATCH", None)
        print(f"target {status['gateway_url']}: GET /v1/accounts/{{id}} (cached), {options.users} users, "
              f"{options.seconds}s per run, {os.cpu_count()} cores", flush=True)  # fmt: skip
        results = {}
        for workers in (1, 2):
            results[workers] = run_generator(
                workers,
                status["gateway_url"],
                env,
                seconds=options.seconds,
                users=options.users,
                target_pids=target_pids,
            )
            r = results[workers]
            left = max(r["cores"] - r["generator_cores"] - r["target_cores"], 0)
            print(
                f"{workers} worker(s): {r['rps']:8.1f} rps  p50 {r['p50_ms']:.0f} ms  "
                f"p99 {r['p99_ms']:.0f} ms  failures {r['failures']:.0f}/{r['requests']:.0f}  "
                f"CPU: generator {r['generator_cores']:.2f} cores, target {r['target_cores']:.2f} cores, "
                f"left {left:.2f} of {r['cores']:.0f} (machine idle {r['idle_pct']:.0f}%, "
                "other users of the machine included)",
                flush=True,
            )
        one, two = results[1], results[2]
        busy = two["generator_cores"] + two["target_cores"]
        if busy > two["cores"] * 0.85 or two["idle_pct"] < 15:
            limit = "CPU: generator and target together use the cores"
        else:
            limit = "the target's per-request latency, not CPU"
        print(
            f"2 workers vs 1: x{two['rps'] / max(one['rps'], 1e-9):.2f} rps; limited by {limit}. "
            "Every core a worker takes is a core the gateway and services lose on this machine."
        )
        for workers, r in results.items():
            bound = options.users / (r["p50_ms"] / 1000) if r["p50_ms"] else float("inf")
            print(
                f"{workers} worker(s): {options.users} users that never wait / p50 {r['p50_ms']:.0f} ms "
                f"= {bound:.0f} rps (Little's law): the rate follows the target's latency under load."
            )
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
