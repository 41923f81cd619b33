"""Entry point the Pulumi CLI runs for ``--policy-pack infra/policy/crossguard``: serves the pack.

Constructing :class:`pulumi_policy.PolicyPack` starts the analyzer server and blocks, so nothing but
the Pulumi CLI should execute this file; tests import :mod:`infra.policy.crossguard.pack` instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[3]
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from infra.policy.crossguard.pack import PACK_NAME, build_policies  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(PROJECT_DIR),
    enforcement_level=EnforcementLevel.MANDATORY,
    description="walletops guardrails over the resources of a preview or update",
)
