"""The recorded estimates the program's budgets read: found relative to the project, clear when missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.errors import UsageProblem
from contracts.estimates import REFRESH_COMMAND, config_digest, monthly_estimate


def test_the_recorded_estimate_is_read_from_the_project_folder(tmp_path: Path) -> None:
    (tmp_path / "cost").mkdir()
    (tmp_path / "cost" / "estimates.json").write_text(
        json.dumps({"environments": {"dev": {"monthly_usd": 12.5}}})
    )
    assert monthly_estimate(tmp_path, "dev") == 12.5


def test_a_missing_file_or_environment_names_the_command_to_run(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem, match=REFRESH_COMMAND):
        monthly_estimate(tmp_path, "dev")
    (tmp_path / "cost").mkdir()
    (tmp_path / "cost" / "estimates.json").write_text(json.dumps({"environments": {}}))
    with pytest.raises(UsageProblem, match="no recorded estimate for 'prod'"):
        monthly_estimate(tmp_path, "prod")


def test_the_config_digest_changes_with_the_stack_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    before = config_digest(tmp_path, "dev")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {a: 1}\n")
    assert config_digest(tmp_path, "dev") != before
