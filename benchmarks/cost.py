"""Benchmark of the cost estimate: from a saved plan (target <= 1 s) and end to end with planning (<= 6 s).

    .venv/bin/python -m benchmarks.cost [--plan reports/plan.json] [--repeat 20]

(run as a module: as a script, this file's name would shadow the ``cost`` package).

Without ``--plan`` the four environments are planned first (that run is the end-to-end figure).
Prints wall-clock figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from contracts.config import load_all
from contracts.plan_graph import read_plan
from contracts.project import find_project_dir
from cost.estimator import estimate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, help="A saved plan of the four environments.")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    models = load_all(find_project_dir())
    usage = {name: model.usage for name, model in models.items()}

    if args.plan is None:
        from infra.planner import plan_environments

        started = time.perf_counter()
        document = plan_environments(list(models.values()))
        planned = time.perf_counter() - started
        report = estimate(document, usage)
        end_to_end = time.perf_counter() - started
        print(f"plan 4 environments:            {planned:6.2f} s")
        print(f"end to end (plan + estimate):   {end_to_end:6.2f} s   target <= 6 s")
    else:
        started = time.perf_counter()
        document = read_plan(args.plan)
        print(f"read saved plan:                {time.perf_counter() - started:6.3f} s")

    runs = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        report = estimate(document, usage)
        json.dumps(report.to_json())
        runs.append(time.perf_counter() - started)
    resources = sum(len(env.resources) for env in document)
    median, worst = statistics.median(runs) * 1000, max(runs) * 1000
    print(f"estimate from plan ({resources} resources, {len(document.names)} envs):")
    print(f"  median {median:.1f} ms, max {worst:.1f} ms over {args.repeat} runs   target <= 1 s")
    for name, env in report.environments.items():
        lines, unpriced = len(env.items), len(env.unpriced)
        print(f"  {name:6s} {env.monthly_usd:12,.2f} USD/month  {lines:4d} lines  {unpriced:3d} unpriced")
    print(f"  total  {report.total_monthly_usd:12,.2f} USD/month")


if __name__ == "__main__":
    main()
