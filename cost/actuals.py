"""Actual spend from AWS Cost Explorer, grouped by the ``environment`` cost-allocation tag.

:func:`month_to_date` asks ``ce:GetCostAndUsage`` for the current month's unblended cost grouped
by ``TAG environment`` and returns the amount of one environment; :func:`compare` projects it
to the whole month (linearly by elapsed days) and sets it beside the estimate.
"""

from __future__ import annotations

import calendar
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import boto3

TAG_KEY = "environment"


@dataclass(frozen=True)
class Actuals:
    """Month-to-date cost of one environment, its projection and the estimate it is judged against."""

    env: str
    period_start: str
    period_end: str
    month_to_date_usd: float
    projected_month_usd: float
    estimate_usd: float
    over_percent: float | None

    def to_json(self) -> dict[str, Any]:
        return {"currency": "USD", **asdict(self)}


def month_to_date(
    env: str, as_of: date, endpoint_url: str | None = None, client: Any = None
) -> tuple[float, str, str]:
    """Unblended cost of ``env`` from the first of ``as_of``'s month to ``as_of`` (inclusive)."""
    start = as_of.replace(day=1)
    end = as_of + timedelta(days=1)
    ce = client or boto3.client("ce", region_name="us-east-1", endpoint_url=endpoint_url)
    total = 0.0
    token: str | None = None
    for _ in range(100):
        request: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Granularity": "MONTHLY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "TAG", "Key": TAG_KEY}],
        }
        if token:
            request["NextPageToken"] = token
        response = ce.get_cost_and_usage(**request)
        for period in response.get("ResultsByTime", []):
            for group in period.get("Groups", []):
                if f"{TAG_KEY}${env}" in group.get("Keys", []):
                    total += float(group["Metrics"]["UnblendedCost"]["Amount"])
        token = response.get("NextPageToken")
        if not token:
            break
    return round(total, 2), start.isoformat(), end.isoformat()


def compare(
    env: str, month_to_date_usd: float, estimate_usd: float, *, as_of: date, start: str, end: str
) -> Actuals:
    """Project month-to-date spend to the full month and express it against the estimate."""
    days = calendar.monthrange(as_of.year, as_of.month)[1]
    projected = round(month_to_date_usd * days / as_of.day, 2)
    over = round((projected - estimate_usd) / estimate_usd * 100, 1) if estimate_usd else None
    return Actuals(env, start, end, month_to_date_usd, projected, estimate_usd, over)
