"""Entry point the Pulumi CLI runs for ``--policy-pack`` (or after ``pulumi policy publish``).

The folder is self-contained: ``walletops_guardrails/`` is a generated copy of the rules, their
engine and the project's waivers and environment configs (``walletops policy pack`` refreshes it),
and ``requirements.txt`` is all it installs. Constructing :class:`pulumi_policy.PolicyPack` starts
the analyzer server and blocks, so only the Pulumi CLI should run this file.
"""

from __future__ import annotations

from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack
from walletops_guardrails.policy.pack import PACK_NAME, build_policies

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(Path(__file__).resolve().parent / "walletops_guardrails" / "project"),
    enforcement_level=EnforcementLevel.MANDATORY,
    description="walletops guardrails over the resources of a preview or update",
)
