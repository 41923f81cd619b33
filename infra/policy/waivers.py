"""Waivers: accepted findings, each with a reason and an expiry date, kept in ``policy-waivers.yaml``.

A waiver names a rule id (or a scanner's check id, ``checkov:CKV2_AWS_57``), the resources it covers
(a glob over the URN or the logical name — for scanners also the subject, e.g. ``<role> policy``), the
environment (or ``all``), why the risk is accepted, and until when. A waived finding is still
reported — as ``waived`` — never hidden. An expired waiver waives nothing and fails the run, so an
acceptance cannot silently outlive its review date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.documents import read_yaml, validate
from contracts.errors import UsageProblem
from contracts.project import ENVIRONMENTS

WAIVERS_FILE = "policy-waivers.yaml"
MAX_WAIVER_DAYS = 366


class Waiver(BaseModel):
    """One accepted finding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Annotated[
        str, Field(pattern=r"^(WO-[A-Z0-9]+-[0-9]{3}|(checkov|parliament|kubernetes):[A-Za-z0-9_.-]+)$")
    ]
    """A rule id (``WO-KMS-001``) or a scanner's check id (``checkov:CKV_AWS_16``)."""
    resource: Annotated[str, Field(min_length=1)]
    env: str = "all"
    reason: Annotated[str, Field(min_length=15)]
    expires: date
    approved_by: Annotated[str, Field(min_length=2)]
    """The role that accepted the risk (``platform-security-lead``): roles outlive people and notes."""

    @field_validator("approved_by")
    @classmethod
    def _role(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)+", value):
            raise ValueError(
                f"{value!r} is not a role name; allowed: lowercase words joined by '-', "
                "e.g. platform-security-lead (a role, not a person or a note)"
            )
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: str) -> str:
        if value != "all" and value not in ENVIRONMENTS:
            raise ValueError(f"allowed: {', '.join(ENVIRONMENTS)} or all")
        return value

    def covers(self, rule_id: str, env: str, urn: str | None, name: str | None) -> bool:
        """Whether this waiver names this finding (expiry is judged separately)."""
        if rule_id != self.rule or self.env not in ("all", env):
            return False
        return any(value is not None and fnmatchcase(value, self.resource) for value in (urn, name))

    def expired(self, today: date) -> bool:
        return self.expires < today


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waivers: list[Waiver] = Field(default_factory=list)


@dataclass(frozen=True)
class Waivers:
    """The waivers in force, where they came from, and the date they are judged on."""

    items: tuple[Waiver, ...]
    source: str

    def match(self, rule_id: str, env: str, urn: str | None, name: str | None) -> Waiver | None:
        """The first waiver covering this finding, expired or not."""
        return next((w for w in self.items if w.covers(rule_id, env, urn, name)), None)

    def expired(self, today: date) -> list[Waiver]:
        return [w for w in self.items if w.expired(today)]


NO_WAIVERS = Waivers((), "(none)")


def load_waivers(path: Path, known_rules: set[str], today: date, *, required: bool = False) -> Waivers:
    """Read and validate a waiver file; problems are :class:`UsageProblem` lines naming the entry.

    A missing file means no waivers unless ``required`` (an explicit ``--waivers`` must exist).
    """
    if not path.is_file():
        if required:
            raise UsageProblem(f"--waivers {path}: file not found")
        return NO_WAIVERS
    document = validate(WaiverFile, read_yaml(path, path.name) or {}, path.name)
    problems = []
    for index, waiver in enumerate(document.waivers):
        if ":" not in waiver.rule and waiver.rule not in known_rules:
            problems.append(
                f"{path.name}: waivers[{index}].rule = {waiver.rule!r}: no such rule (see walletops policy)"
            )
        if (waiver.expires - today).days > MAX_WAIVER_DAYS:
            problems.append(
                f"{path.name}: waivers[{index}].expires = {waiver.expires}: more than {MAX_WAIVER_DAYS} days "
                "ahead; waivers must be reviewed at least yearly"
            )
    if problems:
        raise UsageProblem(problems)
    return Waivers(tuple(document.waivers), str(path))
