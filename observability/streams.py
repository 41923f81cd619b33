"""The three log data streams of an environment, and how long each is kept.

The names are the contract with the services and the shipper: ``logs-walletops.<kind>-<env>``,
``event.dataset`` = ``walletops.<kind>``. Audit events carry money movements (ledger postings,
idempotent replays, order and sweep state changes), so they keep the financial retention.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.config import EnvironmentConfig

PREFIX = "walletops"
KINDS: tuple[str, ...] = ("service", "audit", "access")


@dataclass(frozen=True)
class Stream:
    """One data stream: its kind, environment and retention in days."""

    kind: str
    env: str
    retention_days: int

    @property
    def dataset(self) -> str:
        """``event.dataset`` of its documents (ECS)."""
        return f"{PREFIX}.{self.kind}"

    @property
    def name(self) -> str:
        """The data stream name: ``logs-<dataset>-<namespace>`` with the environment as namespace."""
        return f"logs-{self.dataset}-{self.env}"

    @property
    def asset(self) -> str:
        """Name stem of the templates and policy of this stream."""
        return f"{PREFIX}-{self.kind}-{self.env}"


def streams(env: EnvironmentConfig) -> list[Stream]:
    """Service logs per ``app_retention_days``, audit per ``audit_retention_days`` (≥ 365), access per
    ``access_retention_days``."""
    days = {
        "service": env.logging.app_retention_days,
        "audit": env.logging.audit_retention_days,
        "access": env.logging.access_retention_days,
    }
    return [Stream(kind, env.name, days[kind]) for kind in KINDS]


def stream_for(dataset: str, env: str) -> str | None:
    """The data stream a document of ``dataset`` belongs to in ``env`` (None: not one of ours)."""
    prefix, _, kind = dataset.partition(".")
    if prefix != PREFIX or kind not in KINDS:
        return None
    return f"logs-{dataset}-{env}"
