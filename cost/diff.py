"""What a change costs: the monthly difference between two estimates, resource by resource.

Either side may be a plan document (``walletops plan --format json``, priced here) or a cost
report (``walletops cost --format json``). The Markdown rendering is meant for a pull-request
comment: per environment, the change in USD/month, then added, removed and changed resources.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from cost.estimator import CURRENCY, CostReport


@dataclass(frozen=True)
class ResourceCost:
    """Monthly USD of one resource on one side of the diff."""

    urn: str
    name: str
    type: str
    component: str
    monthly_usd: float


@dataclass(frozen=True)
class Change:
    """A resource present on both sides whose monthly cost differs."""

    urn: str
    name: str
    type: str
    component: str
    base_usd: float
    head_usd: float
    delta_usd: float


@dataclass
class EnvironmentDiff:
    name: str
    base_usd: float
    head_usd: float
    added: list[ResourceCost] = field(default_factory=list)
    removed: list[ResourceCost] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)

    @property
    def delta_usd(self) -> float:
        return round(self.head_usd - self.base_usd, 2)


@dataclass
class CostDiff:
    environments: dict[str, EnvironmentDiff]

    @property
    def delta_usd(self) -> float:
        return round(sum(env.delta_usd for env in self.environments.values()), 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": CURRENCY,
            "delta_usd": self.delta_usd,
            "environments": {
                name: {
                    "base_usd": env.base_usd,
                    "head_usd": env.head_usd,
                    "delta_usd": env.delta_usd,
                    "added": [asdict(r) for r in env.added],
                    "removed": [asdict(r) for r in env.removed],
                    "changed": [asdict(c) for c in env.changed],
                }
                for name, env in self.environments.items()
            },
        }


def resources_of(cost_json: dict[str, Any]) -> dict[str, dict[str, ResourceCost]]:
    """Per environment, the monthly USD of every resource with at least one line item."""
    result: dict[str, dict[str, ResourceCost]] = {}
    for env, data in cost_json["environments"].items():
        totals: dict[str, float] = defaultdict(float)
        meta: dict[str, dict[str, Any]] = {}
        for item in data["items"]:
            totals[item["urn"]] += float(item["monthly_usd"])
            meta[item["urn"]] = item
        result[env] = {
            urn: ResourceCost(
                urn, meta[urn]["name"], meta[urn]["type"], meta[urn]["component"], round(total, 2)
            )
            for urn, total in totals.items()
        }
    return result


def diff_costs(base: CostReport | dict[str, Any], head: CostReport | dict[str, Any]) -> CostDiff:
    """Compare two estimates (reports or their JSON), environment by environment, resource by resource."""
    base_json = base.to_json() if isinstance(base, CostReport) else base
    head_json = head.to_json() if isinstance(head, CostReport) else head
    before, after = resources_of(base_json), resources_of(head_json)
    environments: dict[str, EnvironmentDiff] = {}
    for env in [*before, *(e for e in after if e not in before)]:
        old, new = before.get(env, {}), after.get(env, {})
        result = EnvironmentDiff(
            name=env,
            base_usd=float(base_json["environments"].get(env, {}).get("monthly_usd", 0.0)),
            head_usd=float(head_json["environments"].get(env, {}).get("monthly_usd", 0.0)),
        )
        result.added = sorted((new[u] for u in new.keys() - old.keys()), key=lambda r: -r.monthly_usd)
        result.removed = sorted((old[u] for u in old.keys() - new.keys()), key=lambda r: -r.monthly_usd)
        for urn in sorted(old.keys() & new.keys()):
            delta = round(new[urn].monthly_usd - old[urn].monthly_usd, 2)
            if delta:
                o = old[urn]
                result.changed.append(
                    Change(urn, o.name, o.type, o.component, o.monthly_usd, new[urn].monthly_usd, delta)
                )
        result.changed.sort(key=lambda c: -abs(c.delta_usd))
        environments[env] = result
    return CostDiff(environments)


def _signed(value: float) -> str:
    return f"{value:+,.2f}"


def render_markdown(diff: CostDiff) -> str:
    """A pull-request comment: change per environment, then the resources behind it."""
    out = [f"### Monthly cost change: {_signed(diff.delta_usd)} USD", ""]
    out += ["| environment | before | after | change |", "|---|---:|---:|---:|"]
    for env in diff.environments.values():
        out.append(f"| {env.name} | {env.base_usd:,.2f} | {env.head_usd:,.2f} | {_signed(env.delta_usd)} |")
    for env in diff.environments.values():
        if not (env.added or env.removed or env.changed):
            continue
        out += ["", f"#### {env.name}", "", "| | resource | type | before | after | change |"]
        out.append("|---|---|---|---:|---:|---:|")
        for r in env.added:
            out.append(
                f"| added | `{r.name}` | {r.type} | | {r.monthly_usd:,.2f} | {_signed(r.monthly_usd)} |"
            )
        for r in env.removed:
            out.append(
                f"| removed | `{r.name}` | {r.type} | {r.monthly_usd:,.2f} | | {_signed(-r.monthly_usd)} |"
            )
        for c in env.changed:
            out.append(
                f"| changed | `{c.name}` | {c.type} | {c.base_usd:,.2f} | {c.head_usd:,.2f} "
                f"| {_signed(c.delta_usd)} |"
            )
    return "\n".join(out) + "\n"
