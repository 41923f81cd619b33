"""One SARIF 2.1.0 file for a whole step: one run per tool, one result per finding.

GitHub code scanning shows each result at its file and line; a finding without a file (a whole-stack
policy verdict) points at the project's ``Pulumi.yaml``. Fingerprints are stable across runs (tool,
rule, file and message — not the line), so a moved finding is not reported as a new one.
"""

from __future__ import annotations

import hashlib
from itertools import groupby
from typing import Any

from pipelines.results import Finding, StepResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "note": "note"}


def _result(finding: Finding) -> dict[str, Any]:
    region = {"startLine": finding.line} if finding.line else {}
    location: dict[str, Any] = {"artifactLocation": {"uri": finding.file or "Pulumi.yaml"}}
    if region:
        location["region"] = region
    fingerprint = hashlib.sha256(
        "\0".join((finding.tool, finding.rule, finding.file or "", finding.message)).encode()
    ).hexdigest()
    return {
        "ruleId": finding.rule,
        "level": LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": location}],
        "partialFingerprints": {"walletops/v1": fingerprint},
    }


def to_sarif(result: StepResult) -> dict[str, Any]:
    """Every finding of ``result`` as SARIF, tools in name order, rules listed per tool."""
    runs = []
    ordered = sorted(result.findings, key=lambda f: (f.tool, f.file or "", f.line or 0, f.rule))
    for tool, group in groupby(ordered, key=lambda f: f.tool):
        findings = list(group)
        rules = sorted({f.rule for f in findings})
        runs.append(
            {
                "tool": {
                    "driver": {
                        "name": tool,
                        "informationUri": "https://github.com/walletco/walletops/tree/main/pipelines",
                        "rules": [{"id": rule, "shortDescription": {"text": rule}} for rule in rules],
                    }
                },
                "results": [_result(f) for f in findings],
            }
        )
    if not runs:
        runs.append({"tool": {"driver": {"name": "walletops", "rules": []}}, "results": []})
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": runs}
