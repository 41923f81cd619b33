"""Fixtures shared by the policy tests: the project folder and the real plan of all environments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from walletops.cli_plan import build_plan

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return PROJECT_DIR


@pytest.fixture(scope="session")
def real_plan() -> dict[str, Any]:
    """The four environments planned under mocks, once per session (a few seconds)."""
    return build_plan("all", PROJECT_DIR)
