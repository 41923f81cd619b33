"""Third-party scanners over the plan graph: checkov, parliament and the Kubernetes schemas.

The guardrails in :mod:`infra.policy.rules` were written by the same hands as the program, so they
share its blind spots; these scanners were not. Each turns what it finds into :class:`Check`
outcomes — one per (check, subject): a resource, a policy document or a manifest — with the
scanner's own check id, so a finding reads ``checkov:CKV_AWS_16`` and can be looked up upstream.

- ``checkov``: its Terraform-plan checks over :mod:`infra.policy.terraform_plan`'s export and its
  Kubernetes checks over the rendered manifests (one offline checkov process, ``--skip-download``);
- ``parliament``: every IAM, KMS, S3, SNS, SQS, Secrets Manager and other policy document;
- ``kubernetes``: every manifest against the JSON schemas of the cluster's Kubernetes version.

:func:`run_scanners` is the one entry point (the policy command and the review pipeline call it);
:func:`infra.policy.engine.scanner_results` turns its outcomes into verdicts with waivers applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from contracts.errors import UsageProblem

if TYPE_CHECKING:
    from contracts.plan_graph import PlanGraph

SCANNERS = ("checkov", "parliament", "kubernetes")


@dataclass(frozen=True)
class Check:
    """The outcome of one scanner check on one subject of one environment."""

    scanner: str
    check_id: str
    title: str
    env: str
    urn: str | None
    subject: str
    passed: bool
    message: str = ""
    guideline: str = ""

    @property
    def rule_id(self) -> str:
        """The id findings, waivers and SARIF use: ``<scanner>:<check id>``."""
        return f"{self.scanner}:{self.check_id}"


def parse_scanners(value: str) -> tuple[str, ...]:
    """``checkov,parliament`` → the scanners to run, in a fixed order; unknown names are usage errors."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCANNERS]
    if unknown or not names:
        raise UsageProblem(f"--scanners {value!r}: allowed: {', '.join(SCANNERS)} (comma-separated)")
    return tuple(name for name in SCANNERS if name in names)


def run_scanners(
    graph: PlanGraph,
    names: Iterable[str],
    *,
    kubernetes_versions: Mapping[str, str] | None = None,
    checkov: Path | None = None,
) -> list[Check]:
    """Every check outcome of the named scanners over every environment of ``graph``.

    ``kubernetes_versions`` gives the cluster version per environment (from its config); it is
    needed by the ``kubernetes`` scanner for environments that deploy manifests. ``checkov`` is the
    checkov executable (default: the pinned tool environment ``.tools/checkov``).
    """
    wanted = tuple(names)
    checks: list[Check] = []
    if "checkov" in wanted:
        from infra.policy.scanners.checkov import scan as checkov_scan

        checks.extend(checkov_scan(graph, executable=checkov))
    if "parliament" in wanted:
        from infra.policy.scanners.parliament import scan as parliament_scan

        checks.extend(parliament_scan(graph))
    if "kubernetes" in wanted:
        from infra.policy.scanners.kubernetes import scan as kubernetes_scan

        checks.extend(kubernetes_scan(graph, kubernetes_versions or {}))
    return checks
