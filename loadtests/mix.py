"""The journey mix, without Locust: the weights the journeys are picked by, which gated endpoint
each journey calls, and how long an open-model (``arrival``) run must last for every percentile
gate to have its minimum sample.

Kept apart from :mod:`loadtests.journeys` (which imports Locust and so gevent-patches the process)
so the pipeline's SLO gate can size its run in the CLI process.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

from loadtests.slo import MIN_REQUESTS, PercentileKey, SloSpec

BASE_WEIGHTS: dict[str, int] = {
    "check_balance": 40,
    "card_purchase": 18,
    "p2p_transfer": 15,
    "top_up": 10,
    "sign_up": 5,
}
EXCHANGE_WEIGHT_TOTAL = 12
"""Weight of exchange orders, split evenly over the environment's exchanges."""

JOURNEY_ENDPOINT: dict[str, str] = {
    "check_balance": "GET /v1/accounts/{id}",
    "card_purchase": "POST /v1/roundups/purchases",
    "p2p_transfer": "POST /v1/transfers",
    "top_up": "POST /v1/topups",
    "sign_up": "POST /v1/accounts",
}
"""The gated request each journey makes once per pick (top-ups some journeys add are not counted)."""

SAMPLE_MARGIN = 1.5
"""Expected requests per gated endpoint over the minimum: orders fall back to a top-up when the
account is short of funds and a random mix scatters, so the gate plans half as many again."""


def exchange_weight(exchanges: int) -> int:
    """The pick weight of each exchange's orders."""
    return max(1, round(EXCHANGE_WEIGHT_TOTAL / max(exchanges, 1)))


def endpoint_shares(exchanges: list[str]) -> dict[str, float]:
    """The share of journeys that make each gated request once (``exchanges``: the exchange names)."""
    share = exchange_weight(len(exchanges))
    weights = {JOURNEY_ENDPOINT[name]: weight for name, weight in BASE_WEIGHTS.items()}
    weights |= {f"POST /v1/exchanges/{name}/orders": share for name in exchanges}
    total = sum(weights.values())
    return {endpoint: weight / total for endpoint, weight in weights.items()}


@dataclass(frozen=True)
class GateRun:
    """How long an ``arrival`` run at ``rate_rps`` must last for every gated percentile to be judged."""

    rate_rps: float
    duration_s: int
    scarcest: str
    """The gated endpoint with the smallest share of the traffic, which sets the duration."""
    needed: int
    """Requests the scarcest endpoint must see (the largest minimum sample among its gates)."""
    expected: int
    """Requests the scarcest endpoint is expected to see in ``duration_s``."""


def gate_run_length(spec: SloSpec, exchanges: list[str], rate_rps: float) -> GateRun:
    """The shortest ``arrival`` run at ``rate_rps`` in which every endpoint with a percentile gate
    is expected to see ``SAMPLE_MARGIN`` times its minimum sample (``spec.min_requests``)."""
    if rate_rps <= 0:
        raise ValueError(f"rate {rate_rps:g}: must be more than 0 requests per second")
    shares = endpoint_shares(exchanges)
    worst: tuple[float, str, int] = (0.0, "", 0)
    for pattern, objective in spec.endpoints.items():
        limits: tuple[tuple[PercentileKey, float | None], ...] = (
            ("p95_ms", objective.p95_ms),
            ("p99_ms", objective.p99_ms),
        )
        keys = [key for key, limit in limits if limit]
        needed = max(spec.min_requests.get(key, MIN_REQUESTS[key]) for key in keys)
        for endpoint, share in shares.items():
            if fnmatch.fnmatchcase(endpoint, pattern):
                seconds = needed * SAMPLE_MARGIN / (rate_rps * share)
                if seconds > worst[0]:
                    worst = (seconds, endpoint, needed)
    seconds, endpoint, needed = worst
    duration = max(1, math.ceil(seconds))
    expected = math.floor(duration * rate_rps * shares[endpoint]) if endpoint else 0
    return GateRun(rate_rps, duration, endpoint, needed, expected)
