"""The services' operational metrics on ``/metrics``: idempotent replays, cache hits and misses,
database pool use, outbox depth and lag, circuit state (the APM agent reports the same registry)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from walletstubs.common import metrics

pytestmark = pytest.mark.xdist_group("walletstubs")


def _value(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` whose labels include ``labels``; fails when there is none."""
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{key}="{value}"' in match.group(1) for key, value in labels.items()):
            return float(match.group(2))
    raise AssertionError(f"no sample {name}{labels} in:\n{text}")


@pytest.fixture(scope="module")
def scraped(stack: Any) -> dict[str, str]:
    stack.start("wallet")
    stack.start("simexchange-testex")
    stack.start("exchange-testex", WALLETSTUB_RELAY_INTERVAL_MS="200")
    with httpx.Client(timeout=30) as client:
        wallet, adapter = stack.running["wallet"].url, stack.running["exchange-testex"].url
        before = client.get(f"{wallet}/metrics").text
        account = client.post(f"{wallet}/v1/accounts", json={"owner": "metrics", "currency": "EUR"}).json()[
            "id"
        ]
        topup = {"account": account, "amount": "10.00", "currency": "EUR"}
        key = {"Idempotency-Key": uuid.uuid4().hex}
        for _ in range(2):
            assert client.post(f"{wallet}/v1/topups", json=topup, headers=key).status_code == 201
        for _ in range(2):
            assert client.get(f"{wallet}/v1/accounts/{account}").status_code == 200
        return {
            "before": before,
            "wallet": client.get(f"{wallet}/metrics").text,
            "exchange": client.get(f"{adapter}/metrics").text,
        }


def test_replays_and_cache_lookups_are_counted(scraped: dict[str, str]) -> None:
    def delta(name: str, **labels: str) -> float:
        try:
            start = _value(scraped["before"], name, **labels)
        except AssertionError:
            start = 0.0
        return _value(scraped["wallet"], name, **labels) - start

    assert delta("walletstub_idempotent_replays_total", service="wallet") >= 1
    assert delta("walletstub_cache_lookups_total", service="wallet", result="hit") >= 1


def test_pools_outbox_and_circuit_are_sampled(scraped: dict[str, str]) -> None:
    assert _value(scraped["wallet"], "walletstub_db_pool_connections", pool="ledger", state="size") >= 1
    assert (
        _value(scraped["exchange"], "walletstub_outbox_depth", service="exchange-testex", outbox="orders")
        >= 0
    )
    assert _value(scraped["exchange"], "walletstub_outbox_lag_seconds", outbox="orders") >= 0
    assert _value(scraped["exchange"], "walletstub_circuit_state", circuit="exchange") in (0, 1, 2)


def test_circuit_states_map_to_numbers() -> None:
    metrics.set_service("unit")
    metrics.circuit("unit-circuit", "open")
    assert metrics.CIRCUIT_STATE.labels("unit", "unit-circuit")._value.get() == 2
    metrics.circuit("unit-circuit", "closed")
    assert metrics.CIRCUIT_STATE.labels("unit", "unit-circuit")._value.get() == 0
