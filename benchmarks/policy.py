"""Benchmark of the policy evaluation of all four environments from a saved plan (target <= 1 s).

    .venv/bin/python -m benchmarks.policy [--plan reports/plan.json] [--repeat 20]

Without ``--plan`` the four environments are planned first (not part of the figure). The figure is
the wall-clock time of ``evaluate_plan`` (every rule, every environment, waivers and configs
applied), after the rule modules are imported. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from pathlib import Path

from contracts.config import load_all
from contracts.plan_graph import read_plan
from contracts.project import find_project_dir
from infra.policy.engine import evaluate_plan
from infra.policy.model import all_rules, rules_by_id
from infra.policy.waivers import WAIVERS_FILE, load_waivers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, help="A saved plan of the four environments.")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    root = find_project_dir()

    started = time.perf_counter()
    rules = all_rules()
    imported = time.perf_counter() - started
    if args.plan is None:
        from infra.planner import plan_environments

        started = time.perf_counter()
        document = plan_environments(list(load_all(root).values()))
        print(f"plan 4 environments (not in the figure): {time.perf_counter() - started:6.2f} s")
    else:
        started = time.perf_counter()
        document = read_plan(args.plan)
        print(f"load saved plan:                         {time.perf_counter() - started:6.3f} s")
    configs = load_all(root, document.names)
    waivers = load_waivers(root / WAIVERS_FILE, set(rules_by_id()), date.today())
    resources = sum(len(env.resources) for env in document)

    timings = []
    for _ in range(max(1, args.repeat)):
        started = time.perf_counter()
        report = evaluate_plan(document, waivers=waivers, configs=configs, rules=rules)
        timings.append(time.perf_counter() - started)
    evaluations = len(report.results)
    print(f"import rule modules:                     {imported:6.3f} s")
    print(
        f"evaluate {len(rules)} rules x {len(document.names)} environments "
        f"({resources} resources, {evaluations} verdicts, {len(report.findings)} findings):"
    )
    print(
        f"  median {statistics.median(timings):.3f} s   min {min(timings):.3f} s   max {max(timings):.3f} s"
    )
    print(f"  target <= 1 s: {'met' if statistics.median(timings) <= 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
