"""The guardrails, one module per area; importing this package registers every rule."""

from infra.policy.rules import (
    baseline,
    budgets,
    data,
    eks,
    gateway,
    iam,
    kms,
    kubernetes,
    logs,
    network,
    observability,
    tags,
    transit,
)

__all__ = [
    "baseline",
    "budgets",
    "data",
    "eks",
    "gateway",
    "iam",
    "kms",
    "kubernetes",
    "logs",
    "network",
    "observability",
    "tags",
    "transit",
]
