"""What every step returns: checks with a status, findings that name file and line, artefacts.

A step *passes* when none of its checks failed. A check that could not run (a tool whose service is
unreachable, the Pulumi CLI absent) is ``not run`` — shown as such in the summary and never counted
as passed; whether that fails the step is the step's decision (``deploy`` without an engine fails,
``review`` reports the dependency audit as not run and carries on).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

Severity = Literal["error", "warning", "note"]


class Status(StrEnum):
    passed = "passed"
    failed = "failed"
    not_run = "not run"


@dataclass(frozen=True)
class Finding:
    """One problem a tool found; ``file`` is relative to the project, ``line`` 1-based when known."""

    tool: str
    rule: str
    message: str
    file: str | None = None
    line: int | None = None
    severity: Severity = "error"

    @property
    def location(self) -> str:
        if self.file is None:
            return "-"
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class CheckResult:
    """One check of a step: its status, a one-line summary, findings and how long it took."""

    name: str
    status: Status
    summary: str
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class StepResult:
    """A step's outcome: every check, the artefacts it wrote (name → path or reference)."""

    step: str
    checks: list[CheckResult] = field(default_factory=list)
    artefacts: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def status(self) -> Status:
        if any(check.status is Status.failed for check in self.checks):
            return Status.failed
        if self.checks and all(check.status is Status.not_run for check in self.checks):
            return Status.not_run
        return Status.passed

    @property
    def findings(self) -> list[Finding]:
        return [finding for check in self.checks for finding in check.findings]

    def to_document(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "status": self.status.value,
            "seconds": round(self.seconds, 2),
            "artefacts": dict(sorted(self.artefacts.items())),
            "checks": [
                {
                    "name": check.name,
                    "status": check.status.value,
                    "summary": check.summary,
                    "seconds": round(check.seconds, 2),
                    "findings": [asdict(finding) for finding in check.findings],
                }
                for check in self.checks
            ],
        }
