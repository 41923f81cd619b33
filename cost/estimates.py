"""Recording the estimates the budgets read (``cost/estimates.json``, see :mod:`contracts.estimates`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.estimates import REFRESH_COMMAND, config_digest, estimates_file
from cost.estimator import CostReport


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


def save_estimates(report: CostReport, project_dir: Path) -> Path:
    """Write the estimates file of ``project_dir`` (stable JSON) and return its path."""
    path = estimates_file(project_dir)
    document = estimates_document(report, project_dir)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
