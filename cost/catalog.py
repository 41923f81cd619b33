"""The offline price catalog: a small, checked-in snapshot of AWS public on-demand prices.

``cost/catalog/aws-prices-<region>.json`` holds, per price key (``nat.hours``,
``ec2.BoxUsage:m6i.large``, ``rds.postgres.db.t4g.medium.single-az`` ...), the AWS service code,
usage type, unit, USD rate (or monthly tiers), and the source and date the rate was read from.
Keys a plan needs but for which no source was available are listed under ``unavailable`` with the
reason, so the estimator can report them as unpriced instead of guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from contracts.errors import UsageProblem

CATALOG_DIR = Path(__file__).parent / "catalog"
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Tier:
    """A rate applying to usage up to ``up_to`` units in a month (``None``: no upper bound)."""

    up_to: float | None
    usd: float


@dataclass(frozen=True)
class Price:
    """One catalog entry: a unit rate (possibly tiered) and where it came from."""

    key: str
    service: str
    usage_type: str
    unit: str
    tiers: tuple[Tier, ...]
    description: str
    source: str
    derived: str = ""
    verified: bool = True
    """False for a rate entered from a pricing page without a recorded copy (the line says so)."""

    @property
    def usd(self) -> float:
        """The flat rate (the first tier's rate for a tiered price)."""
        return self.tiers[0].usd

    def split(self, quantity: float, start: float = 0.0) -> list[tuple[int, float, float]]:
        """``quantity`` split into (tier index, units, rate), lowest tier first.

        ``start``: units the account already used this month (by other resources sharing the same
        volume tiers), so this quantity is priced from there on.
        """
        parts: list[tuple[int, float, float]] = []
        end = start + quantity
        floor = 0.0
        for index, tier in enumerate(self.tiers):
            ceiling = end if tier.up_to is None else min(end, tier.up_to)
            units = ceiling - max(floor, start)
            if units > 0:
                parts.append((index, units, tier.usd))
            if tier.up_to is None or end <= tier.up_to:
                break
            floor = tier.up_to
        return parts


@dataclass(frozen=True)
class Catalog:
    """Prices of one region, plus the keys known to be missing and why."""

    region: str
    currency: str
    snapshot_date: str
    prices: dict[str, Price]
    unavailable: dict[str, str]
    sources: dict[str, str]

    def get(self, key: str) -> Price | None:
        return self.prices.get(key)

    def missing_reason(self, key: str) -> str:
        """Why ``key`` has no price: the recorded reason, or that the snapshot does not carry it."""
        return self.unavailable.get(
            key, f"price {key!r} is not in the {self.region} catalog snapshot ({self.snapshot_date})"
        )


def catalog_path(region: str) -> Path:
    return CATALOG_DIR / f"aws-prices-{region}.json"


@cache
def load_catalog(region: str = "eu-west-1", path: Path | None = None) -> Catalog:
    """Read and check the snapshot of ``region`` (cached: the file is immutable at runtime)."""
    file = path or catalog_path(region)
    if not file.is_file():
        available = sorted(p.stem.removeprefix("aws-prices-") for p in CATALOG_DIR.glob("aws-prices-*.json"))
        raise UsageProblem(
            f"region {region!r}: no price catalog ({file.name}); available: {', '.join(available) or 'none'}"
        )
    return parse_catalog(json.loads(file.read_text(encoding="utf-8")))


def parse_catalog(document: dict[str, Any]) -> Catalog:
    """Build a :class:`Catalog` from its JSON document, refusing prices without a known source."""
    sources: dict[str, str] = dict(document.get("sources", {}))
    prices: dict[str, Price] = {}
    for key, entry in document["prices"].items():
        if "tiers" in entry:
            tiers = tuple(Tier(t["up_to"], float(t["usd"])) for t in entry["tiers"])
        else:
            tiers = (Tier(None, float(entry["usd"])),)
        source = entry["source"]
        if source not in sources and "://" not in source:
            raise ValueError(f"catalog price {key!r} cites unknown source {source!r}")
        prices[key] = Price(
            key=key,
            service=entry["service"],
            usage_type=entry["usage_type"],
            unit=entry["unit"],
            tiers=tiers,
            description=entry.get("description", ""),
            source=source,
            derived=entry.get("derived", ""),
            verified=bool(entry.get("verified", True)),
        )
    return Catalog(
        region=document["region"],
        currency=document.get("currency", "USD"),
        snapshot_date=document.get("snapshot_date", ""),
        prices=prices,
        unavailable=dict(document.get("unavailable", {})),
        sources=sources,
    )
