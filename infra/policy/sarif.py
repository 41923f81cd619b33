"""SARIF 2.1.0 for GitHub code scanning: one run, every rule in ``tool.driver.rules``, one result per finding.

Each result points at the component module that declares the resource (``infra/<area>.py``), or at
``Pulumi.<env>.yaml`` when the finding is about the stack as a whole or the module is unknown; the
resource URN rides along as a logical location. Waived findings carry an external suppression with the
waiver's reason, so code scanning shows them as dismissed rather than dropping them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.frameworks import spelled_text
from infra.policy.engine import Finding, Report
from infra.policy.model import Rule, Severity, all_rules

if TYPE_CHECKING:
    from contracts.plan_graph import PlanGraph

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/walletco/walletops/blob/main/infra/policy"
LEVELS = {Severity.mandatory: "error", Severity.advisory: "warning"}
SECURITY_SEVERITY = {Severity.mandatory: "8.0", Severity.advisory: "5.0"}


def _rule_descriptor(rule: Rule) -> dict[str, Any]:
    controls = spelled_text(rule.controls) or "none cited"
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.replace(":", "-").split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {
            "text": f"{rule.title}. Controls: {spelled_text(rule.controls) or 'none cited'}."
        },
        "help": {
            "text": rule.remediation,
            "markdown": f"**Remediation:** {rule.remediation}\n\n**Controls:** {controls}",
        },
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": {
            "tags": ["security", "walletops", rule.severity.value, *rule.controls],
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "precision": "high",
        },
    }


def module_of(
    urn: str | None, by_urn: Mapping[str, Mapping[str, Any]], project_dir: Path | None
) -> str | None:
    """``infra/<area>.py`` of the outermost walletops component holding ``urn``, if that file exists."""
    if urn is None or project_dir is None:
        return None
    node = by_urn.get(urn)
    area = None
    while node is not None:
        if str(node["type"]).startswith("walletops:"):
            area = str(node["type"]).split(":")[1]
        parent = node.get("parent")
        node = by_urn.get(parent) if parent else None
    if area is None:
        return None
    candidate = Path("infra") / f"{area}.py"
    return candidate.as_posix() if (project_dir / candidate).is_file() else None


def line_of(text: str, name: str | None, resource_type: str | None, env: str) -> int:
    """The line of ``text`` (a component module) that most likely creates the resource: the literal of
    its logical name without the ``wallet-<env>-`` prefix (``self.name("ledger")``), else the start
    of the f-string that builds it, else the first constructor of its class (``rds.Instance(``); 1 if
    nothing matches. A heuristic, never a guess beyond the file the component lives in."""
    lines = text.splitlines()
    suffix = (name or "").removeprefix(f"wallet-{env}-")
    patterns = []
    if suffix:
        patterns += [f'"{suffix}"', f'"{suffix.split("-")[0]}-']
    parts = (resource_type or "").split(":")
    if len(parts) == 3:
        patterns += [f"{parts[1].split('/')[0]}.{parts[2]}(", f".{parts[2]}("]
    for pattern in patterns:
        for number, line in enumerate(lines, start=1):
            if pattern in line:
                return number
    return 1


def _result(finding: Finding, index: int, uri: str, line: int = 1) -> dict[str, Any]:
    subject = finding.urn or f"stack {finding.env}"
    fingerprint = hashlib.sha256(
        f"{finding.rule_id}|{finding.env}|{subject}|{finding.message}".encode()
    ).hexdigest()
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": line},
        },
    }
    if finding.urn:
        location["logicalLocations"] = [
            {"fullyQualifiedName": finding.urn, "name": finding.name, "kind": "resource"}
        ]
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": index,
        "level": LEVELS[finding.severity],
        "message": {"text": f"[{finding.env}] {finding.name or 'stack'}: {finding.message}"},
        "locations": [location],
        "partialFingerprints": {"walletopsFinding/v1": fingerprint},
        "properties": {"environment": finding.env, "status": finding.status},
    }
    if finding.waiver is not None:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{finding.waiver.reason} (expires {finding.waiver.expires}, "
                f"approved by {finding.waiver.approved_by})",
            }
        ]
    return result


def to_sarif(report: Report, plan: PlanGraph, project_dir: Path | None, version: str) -> dict[str, Any]:
    """The SARIF log of a policy report over ``plan``."""
    rules = all_rules() + [rule for rule in report.rules if rule.area in report.scanners]
    index = {rule.id: position for position, rule in enumerate(rules)}
    by_env = {env: plan[env].by_urn for env in report.envs}
    results = []
    texts: dict[str, str] = {}
    for finding in report.findings:
        module = module_of(finding.urn, by_env[finding.env], project_dir)
        line = 1
        if module is not None and project_dir is not None:
            if module not in texts:
                texts[module] = (project_dir / module).read_text(encoding="utf-8")
            node = by_env[finding.env].get(finding.urn or "")
            name = finding.urn.rsplit("::", 1)[-1] if finding.urn else None
            line = line_of(texts[module], name, node["type"] if node else None, finding.env)
        uri = module or f"Pulumi.{finding.env}.yaml"
        results.append(_result(finding, index[finding.rule_id], uri, line))
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "walletops-policy",
                        "semanticVersion": version,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule_descriptor(rule) for rule in rules],
                    }
                },
                "automationDetails": {"id": f"walletops-policy/{'+'.join(report.envs)}/"},
                "results": results,
            }
        ],
    }
