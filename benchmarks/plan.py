"""Benchmark of the offline planner: ``walletops plan --env all`` in a cold process, and per environment.

    .venv/bin/python benchmarks/plan.py [--repeat 3]

Each figure is the wall time of a fresh ``walletops plan`` process (imports included), the way an
engineer or CI runs it; the per-environment lines plan one environment alone. Prints the median
and the spread; asserts nothing. Target: all four environments in <= 5 s on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_plan(env: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "walletops",
            "plan",
            "--env",
            env,
            "--format",
            "json",
            "--output",
            "/dev/null",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'environments':<14}{'median s':>10}{'min s':>8}{'max s':>8}")
    for env in ("all", "dev", "qa", "stage", "prod"):
        samples = [timed_plan(env) for _ in range(args.repeat)]
        print(f"{env:<14}{statistics.median(samples):>10.2f}{min(samples):>8.2f}{max(samples):>8.2f}")


if __name__ == "__main__":
    main()
