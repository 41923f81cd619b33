"""The walletops Pulumi program: one environment from its validated model (filled in below)."""

from __future__ import annotations

from infra.config import EnvironmentConfig


def build_environment(env: EnvironmentConfig) -> None:
    """Create every component of ``env``; the same code runs under ``pulumi up`` and the planner."""
    raise NotImplementedError
