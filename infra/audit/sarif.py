"""SARIF 2.1.0 of a posture audit: every check a rule, one result per failing or unreadable resource.

A live account has no source line, so each result's physical location is the check's own code
(``infra/audit/<module>.py`` at its function) and the audited resource rides along as a logical
location with its region; code scanning then groups findings by check and opens the code that decides.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Any

from contracts.frameworks import spelled_text
from infra.audit.checks import CHECKS, AuditReport, Check

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/walletco/walletops/blob/main/infra/audit"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def source_of(check: Check) -> tuple[str, int]:
    """The repository-relative file and first line of the check's function."""
    function = inspect.unwrap(check.run)
    path = Path(inspect.getsourcefile(function) or "infra/audit/checks.py").resolve()
    try:
        uri = path.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        uri = f"infra/audit/{path.name}"
    return uri, inspect.getsourcelines(function)[1]


def _rule(check: Check) -> dict[str, Any]:
    controls = spelled_text(check.controls) or "none cited"
    return {
        "id": check.id,
        "name": "".join(part.capitalize() for part in check.id.split("-")),
        "shortDescription": {"text": check.title},
        "fullDescription": {"text": f"{check.title}. Controls: {controls}."},
        "defaultConfiguration": {"level": "error"},
        "properties": {
            "tags": ["security", "walletops", "audit", *check.controls],
            "security-severity": "8.0",
        },
    }


def audit_sarif(report: AuditReport, version: str) -> dict[str, Any]:
    """The SARIF log of ``report`` (passing results are left out, as code scanning expects)."""
    index = {check.id: position for position, check in enumerate(CHECKS)}
    by_id = {check.id: check for check in CHECKS}
    results = []
    for result in report.results:
        if result.status == "pass":
            continue
        uri, line = source_of(by_id[result.check])
        subject = f"{result.region}/{result.resource}"
        fingerprint = hashlib.sha256(f"{result.check}|{subject}".encode()).hexdigest()
        results.append(
            {
                "ruleId": result.check,
                "ruleIndex": index[result.check],
                "level": "error",
                "message": {"text": f"[{result.region}] {result.resource}: {result.status}: {result.detail}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                            "region": {"startLine": line},
                        },
                        "logicalLocations": [
                            {"fullyQualifiedName": subject, "name": result.resource, "kind": "resource"}
                        ],
                    }
                ],
                "partialFingerprints": {"walletopsAudit/v1": fingerprint},
                "properties": {"region": result.region, "status": result.status},
            }
        )
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "walletops-audit",
                        "semanticVersion": version,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule(check) for check in CHECKS],
                    }
                },
                "automationDetails": {"id": f"walletops-audit/{'+'.join(report.regions)}/"},
                "results": results,
            }
        ],
    }
