"""The recorded estimate per environment that the Pulumi program turns into its AWS Budget.

The program cannot plan itself to learn what it costs, so ``walletops cost --env all
--save-estimates`` writes ``cost/estimates.json`` (the monthly estimate of each environment, the
catalog date, and a digest of each ``Pulumi.<env>.yaml``) and the program reads it with
:func:`monthly_estimate`. The budget amount is therefore exactly the line-item estimate reviewed in
the pull request, deterministic, and free of a second pricing path; ``tests/cost`` fails, naming
the command to run, when the file no longer matches the config.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cost.estimator import CostReport
from walletops.project import UsageProblem

ESTIMATES_FILE = Path(__file__).parent / "estimates.json"
REFRESH_COMMAND = "walletops cost --env all --save-estimates"


def config_digest(project_dir: Path, env: str) -> str:
    """SHA-256 of ``Pulumi.<env>.yaml``: tells whether a recorded estimate still matches the config."""
    return hashlib.sha256((project_dir / f"Pulumi.{env}.yaml").read_bytes()).hexdigest()


def estimates_document(report: CostReport, project_dir: Path) -> dict[str, Any]:
    return {
        "generated_by": REFRESH_COMMAND,
        "catalog_date": report.catalog_date,
        "environments": {
            name: {
                "monthly_usd": env.monthly_usd,
                "unpriced": len(env.unpriced),
                "config_sha256": config_digest(project_dir, name),
            }
            for name, env in report.environments.items()
        },
    }


def save_estimates(report: CostReport, project_dir: Path, path: Path = ESTIMATES_FILE) -> Path:
    """Write the estimates file (stable JSON) and return its path."""
    document = estimates_document(report, project_dir)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_estimates(path: Path = ESTIMATES_FILE) -> dict[str, Any]:
    if not path.is_file():
        raise UsageProblem(f"{path}: no recorded cost estimates; run `{REFRESH_COMMAND}`")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def monthly_estimate(env: str, path: Path = ESTIMATES_FILE) -> float:
    """The recorded monthly estimate (USD) of ``env``; a missing entry is a usage error naming the fix."""
    entry = load_estimates(path).get("environments", {}).get(env)
    if entry is None:
        raise UsageProblem(f"{path}: no recorded estimate for {env!r}; run `{REFRESH_COMMAND}`")
    return float(entry["monthly_usd"])
