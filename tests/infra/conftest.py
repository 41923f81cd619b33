"""Fixtures of the infra tests: the real program planned once per test process, and helpers."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.config import load_all, load_environment
from infra.planner import plan_environments

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = (
    "Pulumi.yaml",
    "gateway.yaml",
    "Pulumi.dev.yaml",
    "Pulumi.qa.yaml",
    "Pulumi.stage.yaml",
    "Pulumi.prod.yaml",
    "cost/estimates.json",
)


@pytest.fixture(scope="session")
def plans() -> dict[str, dict[str, Any]]:
    """The plan of each of the four environments, from the real program under mocks."""
    return plan_environments(list(load_all(ROOT).values())).to_document()["environments"]


@pytest.fixture
def project_copy(tmp_path: Path) -> Callable[[], Path]:
    """A throw-away copy of the project's config files, to edit in a test."""

    def make() -> Path:
        for name in PROJECT_FILES:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, tmp_path / name)
        return tmp_path

    return make


@pytest.fixture(scope="session")
def ecs_plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """qa planned with ``compute_engine: ecs`` (Fargate), from a copy of the project's config."""
    project = tmp_path_factory.mktemp("ecs-project")
    for name in PROJECT_FILES:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, project / name)
    path = project / "Pulumi.qa.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["walletops:compute_engine"] = "ecs"
    document["config"]["walletops:loadtest"]["in_cluster"] = False
    del document["config"]["walletops:kubernetes"]
    logging = document["config"]["walletops:logging"]
    logging.pop("eck")
    logging.update(elastic="external", elastic_endpoint="https://logs.walletco.example:9243")
    path.write_text(yaml.safe_dump(document))
    plan: dict[str, Any] = plan_environments([load_environment("qa", project)], project)["qa"].to_document()
    return plan
