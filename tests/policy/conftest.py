"""Fixtures shared by the policy tests: the project folder and the real plan of all environments."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import pytest

from contracts.plan_graph import PlanGraph
from walletops.orchestration import build_plan

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return PROJECT_DIR


@pytest.fixture(scope="session")
def real_plan(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> PlanGraph:
    """The four environments planned under mocks (about 20 s), once per test run.

    Under xdist the first worker to ask plans and saves the result in the run's shared temporary
    folder (under a file lock); the other workers read it instead of planning again.
    """
    if worker_id == "master":
        return build_plan("all", PROJECT_DIR)
    shared = tmp_path_factory.getbasetemp().parent
    saved = shared / "policy-real-plan.json"
    with (shared / "policy-real-plan.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if saved.exists():
                return PlanGraph.from_document(json.loads(saved.read_text(encoding="utf-8")))
            graph = build_plan("all", PROJECT_DIR)
            saved.write_text(graph.to_json(), encoding="utf-8")
            return graph
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
