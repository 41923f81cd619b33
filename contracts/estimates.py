"""The recorded monthly estimate of each environment, which the Pulumi program turns into its AWS Budget.

The program cannot plan itself to learn what it costs, so ``walletops cost --env all
--save-estimates`` writes ``cost/estimates.json`` (each environment's monthly estimate, the catalog
date, and a digest of each ``Pulumi.<env>.yaml``) and the program reads it here, through the core,
never by importing the cost area. The budget amount is therefore exactly the line-item estimate
reviewed in the pull request; the cost tests fail, naming the command to run, when the file no
longer matches the config.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from contracts.errors import UsageProblem

ESTIMATES_PATH = Path("cost") / "estimates.json"
"""Where the estimates live, relative to the project folder."""
REFRESH_COMMAND = "walletops cost --env all --save-estimates"


def estimates_file(project_dir: Path) -> Path:
    return project_dir / ESTIMATES_PATH


def config_digest(project_dir: Path, env: str) -> str:
    """SHA-256 of ``Pulumi.<env>.yaml``: tells whether a recorded estimate still matches the config."""
    return hashlib.sha256((project_dir / f"Pulumi.{env}.yaml").read_bytes()).hexdigest()


def load_estimates(project_dir: Path) -> dict[str, Any]:
    """The whole estimates document; a missing file is a usage problem naming the command to run."""
    path = estimates_file(project_dir)
    if not path.is_file():
        raise UsageProblem(f"{path}: no recorded cost estimates; run `{REFRESH_COMMAND}`")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def monthly_estimate(project_dir: Path, env: str) -> float:
    """The recorded monthly estimate (USD) of ``env``; a missing entry is a usage problem naming the fix."""
    entry = load_estimates(project_dir).get("environments", {}).get(env)
    if entry is None:
        raise UsageProblem(
            f"{estimates_file(project_dir)}: no recorded estimate for {env!r}; run `{REFRESH_COMMAND}`"
        )
    return float(entry["monthly_usd"])
