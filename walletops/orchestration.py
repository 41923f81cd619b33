"""Where the command line plans: the only place that runs the program and hands its graph on.

Policy, cost, the scanners and the pipelines take a :class:`~contracts.plan_graph.PlanGraph`; they
never plan. The commands get one here, either planned now (the real program under mocks, each
environment in its own process) or read from a saved ``walletops plan --format json`` file.
"""

from __future__ import annotations

from pathlib import Path

from contracts.config import load_all
from contracts.errors import UsageProblem
from contracts.output import err_console
from contracts.plan_graph import PlanGraph, read_plan
from contracts.project import expand_envs, resolve_project_dir


def build_plan(env: str, project_dir: Path | None) -> PlanGraph:
    """Validate the requested environments, then plan them (each in its own process)."""
    from infra.planner import plan_environments

    root = resolve_project_dir(project_dir)
    models = load_all(root, expand_envs(env))
    # No spinner: its thread could hold the stderr lock at fork time and hang a planning process.
    err_console.print(f"planning {', '.join(models)} under mocks", style="dim")
    return plan_environments(list(models.values()), root)


def plan_or_read(env: str, plan_file: Path | None, project_dir: Path | None) -> PlanGraph:
    """The plan of ``env`` (``all`` or one name): read from ``plan_file`` when given, else planned now.

    With a file, ``all`` means every environment the file holds; a named environment it lacks is a
    usage problem.
    """
    if plan_file is None:
        return build_plan(env, project_dir)
    graph = read_plan(plan_file)
    if env == "all":
        return graph
    wanted = expand_envs(env)
    if any(name not in graph.environments for name in wanted):
        have = ", ".join(graph.names) or "nothing"
        raise UsageProblem(f"--env {env}: not in {plan_file} (it holds {have})")
    return graph.select(wanted)
