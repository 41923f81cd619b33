"""The compliance frameworks the guardrails and audit checks cite, each with its version and the
recorded list of its control ids (``contracts/frameworks.json``, with the sources they were taken from).

A rule cites a control as ``"<framework> <id>"`` — ``FSBP EC2.7`` (AWS Foundational Security Best
Practices), ``CIS 2.2.1`` (CIS AWS Foundations Benchmark 3.0.0), ``PCI 3.5.1`` (PCI DSS 4.0) — and
every report spells it out with the framework's name and version, so "which version of which standard"
is never a guess. A test checks every cited id against the recorded lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

FRAMEWORKS_FILE = Path(__file__).with_name("frameworks.json")


@dataclass(frozen=True)
class Framework:
    """A framework: its short prefix in citations, full name, version and known control ids."""

    prefix: str
    name: str
    version: str
    ids: frozenset[str]


@dataclass(frozen=True)
class Control:
    """One cited control, resolved against its framework."""

    framework: Framework
    id: str

    @property
    def known(self) -> bool:
        return self.id in self.framework.ids

    def to_dict(self) -> dict[str, Any]:
        return {"framework": self.framework.name, "version": self.framework.version, "id": self.id}

    def __str__(self) -> str:
        return f"{self.framework.name} {self.framework.version}: {self.id}"


@cache
def frameworks() -> dict[str, Framework]:
    """The recorded frameworks by citation prefix (``FSBP``, ``CIS``, ``PCI``)."""
    document = json.loads(FRAMEWORKS_FILE.read_text(encoding="utf-8"))
    return {
        prefix: Framework(prefix, entry["name"], entry["version"], frozenset(entry["ids"]))
        for prefix, entry in document.items()
    }


def control(citation: str) -> Control:
    """``"CIS 2.2.1"`` → the control; an unknown prefix is a ``ValueError`` naming the allowed ones."""
    prefix, _, control_id = citation.partition(" ")
    known = frameworks()
    if prefix not in known or not control_id:
        raise ValueError(f"{citation!r}: cite as '<framework> <id>' with framework one of {', '.join(known)}")
    return Control(known[prefix], control_id)


def unknown_citations(citations: list[str]) -> list[str]:
    """The citations whose framework or control id is not in the recorded lists."""
    bad = []
    for citation in citations:
        try:
            if not control(citation).known:
                bad.append(citation)
        except ValueError:
            bad.append(citation)
    return bad


def spelled(citations: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """The citations as ``{"framework", "version", "id"}`` objects, for reports read outside the team."""
    return [control(citation).to_dict() for citation in citations]


def spelled_text(citations: tuple[str, ...] | list[str]) -> str:
    """``"AWS Foundational Security Best Practices v1.0.0: EC2.7; PCI DSS 4.0: 1.3.1"`` (one line)."""
    return "; ".join(str(control(citation)) for citation in citations)
