"""The order saga under faults, on both backends: ``kill -9`` of the adapter at every step boundary, of
the wallet after it committed, of the simulated exchange mid-order; throttling, refused credentials,
the attempt cap, and two adapter replicas racing for the same rows.

For every order exactly one of {placed and debited once, refunded, rejected before any debit} holds,
the simulated exchange holds an order iff the adapter says placed, and the ledger stays balanced.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from walletstubs.common.idempotency import INTERNAL_CONSUMER, derived_id
from walletstubs.exchange.app import ORDER_ID_PREFIX
from walletstubs.localstack.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("walletstubs")]
ADAPTER = "exchange-testex"
ORDERS = "/v1/exchanges/testex/orders"
FAST = {"WALLETSTUB_RELAY_INTERVAL_MS": "100", "WALLETSTUB_SAGA_LEASE_MS": "1500"}
CALM = {"latency_ms": 0, "error_rate": 0, "timeout_rate": 0, "timeout_ms": 5000}


class Harness:
    """Clients of the services and the checks every test ends with."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.wallet = httpx.Client(base_url=stack.running["wallet"].url, timeout=30)
        self.sim = httpx.Client(base_url=stack.running["simexchange-testex"].url, timeout=30)
        self.adapter = httpx.Client(base_url=stack.specs[ADAPTER].url, timeout=30)

    def funded(self, funds: str = "100.00") -> str:
        account = str(
            self.wallet.post("/v1/accounts", json={"owner": "saga", "currency": "EUR"}).json()["id"]
        )
        topup = {"account": account, "amount": funds, "currency": "EUR"}
        assert self.wallet.post(
            "/v1/topups", json=topup, headers={"Idempotency-Key": uuid.uuid4().hex}
        ).is_success
        return account

    def order(self, account: str, key: str, amount: str = "10.00") -> httpx.Response | None:
        """Place an order; None when the adapter died answering it (a crash point fired)."""
        body = {"account": account, "symbol": "BTC", "side": "buy", "amount": amount, "currency": "EUR"}
        try:
            return self.adapter.post(ORDERS, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            return None

    def knobs(self, **values: Any) -> None:
        current = self.sim.get("/admin/knobs").json()
        assert self.sim.put("/admin/knobs", json={**current, **values}).status_code == 200

    def settled(self, key: str, timeout: float = 40) -> dict[str, Any]:
        """The order once the saga has finished with it (a final step)."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.adapter.get(f"{ORDERS}/{key}")
            if answer.status_code == 200 and answer.json()["step"] in (
                "placed",
                "rejected",
                "refunded",
                "dead",
            ):
                order: dict[str, Any] = answer.json()
                return order
            assert time.monotonic() < deadline, f"order {key} not settled: {answer.text}"
            time.sleep(0.2)

    def at_exchange(self, exchange_id: str) -> int:
        return int(self.sim.get(f"/v1/orders/{exchange_id}").status_code == 200)

    def assert_one_outcome(self, order: dict[str, Any], account: str, funds: str = "100.00") -> None:
        """Exactly one of: placed with one debit; refunded (debit and refund); rejected with no debit."""
        balance = Decimal(
            self.wallet.get(f"/v1/accounts/{account}", headers={"Cache-Control": "no-cache"}).json()[
                "balance"
            ]
        )
        legs = [entry["leg"] for entry in self.wallet.get(f"/v1/accounts/{account}/entries").json()]
        placed_at_exchange = self.at_exchange(order["exchange_client_order_id"])
        expected = {
            "placed": (Decimal(funds) - Decimal(order["amount"]), ["debit", "credit"], 1),
            "refunded": (Decimal(funds), ["credit", "debit", "credit"], 0),
            "rejected": (Decimal(funds), ["credit"], 0),
        }
        assert order["step"] in expected, order
        assert (balance, legs, placed_at_exchange) == expected[order["step"]], order
        assert self.wallet.get("/v1/ledger/verify").json()["balanced"] is True


@pytest.fixture(scope="module")
def harness(stack: Any) -> Iterator[Harness]:
    stack.start("wallet")
    stack.start("simexchange-testex")
    stack.restart(ADAPTER, **FAST)
    harness = Harness(stack)
    yield harness
    harness.sim.put("/admin/knobs", json=CALM)
    stack.running[ADAPTER].stop()


@pytest.fixture
def calm(harness: Harness) -> Iterator[Harness]:
    harness.sim.put("/admin/knobs", json=CALM)
    yield harness
    harness.sim.put("/admin/knobs", json=CALM)


@pytest.mark.parametrize(
    ("point", "refused", "outcome"),
    [
        ("before-debit", False, "placed"),
        ("after-debit", False, "placed"),
        ("after-place", False, "placed"),
        ("after-refusal", True, "refunded"),
        ("after-refund", True, "refunded"),
    ],
)
def test_kill_9_of_the_adapter_at_every_step_boundary(
    calm: Harness, point: str, refused: bool, outcome: str
) -> None:
    account = calm.funded()
    calm.knobs(reject_rate=1.0 if refused else 0.0)
    adapter = calm.stack.restart(ADAPTER, WALLETSTUB_CRASH_AT=point, **FAST)
    key = f"crash-{point}-{uuid.uuid4().hex[:8]}"
    assert calm.order(account, key) is None
    assert adapter.wait_dead() != 0
    calm.stack.restart(ADAPTER, **FAST)
    order = calm.settled(key)
    assert order["step"] == outcome, order
    calm.assert_one_outcome(order, account)
    assert calm.order(account, key).headers["Idempotent-Replayed"] == "true"  # type: ignore[union-attr]


def test_a_wallet_killed_after_its_commit_books_the_debit_once(calm: Harness) -> None:
    account = calm.funded()
    wallet = calm.stack.restart("wallet", WALLETSTUB_CRASH_AT="after-commit")
    key = f"wallet-crash-{uuid.uuid4().hex[:8]}"
    pending = calm.order(account, key)
    assert pending is not None and pending.status_code == 202, pending
    assert wallet.wait_dead() != 0
    calm.stack.restart("wallet")
    order = calm.settled(key)
    assert order["step"] == "placed"
    calm.assert_one_outcome(order, account)


def test_a_simulated_exchange_killed_mid_order_places_it_once(calm: Harness) -> None:
    account = calm.funded()
    calm.knobs(latency_ms=400)
    key = f"sim-crash-{uuid.uuid4().hex[:8]}"
    sender = threading.Thread(target=calm.order, args=(account, key))
    sender.start()
    time.sleep(0.2)
    calm.stack.running["simexchange-testex"].kill9()
    sender.join(30)
    calm.stack.start("simexchange-testex")
    order = calm.settled(key)
    assert order["step"] == "placed"
    calm.assert_one_outcome(order, account)


def test_throttling_and_refused_credentials_retry_instead_of_refunding(calm: Harness) -> None:
    account = calm.funded()
    calm.knobs(throttle_rate=1.0)
    throttled = calm.order(account, f"throttled-{uuid.uuid4().hex[:8]}")
    assert throttled is not None and throttled.status_code == 202
    calm.knobs(throttle_rate=0.0, refuse_credentials=True)
    paused_key = f"paused-{uuid.uuid4().hex[:8]}"
    paused = calm.order(account, paused_key)
    assert paused is not None and paused.status_code == 202 and paused.json()["step"] == "placing"
    time.sleep(1.0)
    assert calm.adapter.get(f"{ORDERS}/{paused_key}").json()["step"] == "placing"
    assert calm.adapter.get("/v1/exchanges/testex").json()["circuit"] in ("open", "half-open")
    calm.knobs(refuse_credentials=False)
    for answer in (throttled, paused):
        order = calm.settled(answer.json()["client_order_id"])
        assert order["step"] == "placed", order
    assert Decimal(calm.wallet.get(f"/v1/accounts/{account}").json()["balance"]) == Decimal("80.00")
    assert calm.wallet.get("/v1/ledger/verify").json()["balanced"] is True


def test_orders_that_cannot_finish_are_dead_lettered_not_refunded(calm: Harness) -> None:
    account = calm.funded()
    conflicting = f"conflict-{uuid.uuid4().hex[:8]}"
    taken = {
        "client_order_id": derived_id(ORDER_ID_PREFIX, INTERNAL_CONSUMER, conflicting),
        "symbol": "ETH",
        "side": "buy",
        "currency": "EUR",
        "notional": "1.00",
    }
    api_key = json.loads(
        Path(calm.stack.specs[ADAPTER].env["WALLETSTUB_EXCHANGE_CREDENTIALS_FILE"]).read_text()
    )
    assert (
        calm.sim.post("/v1/orders", json=taken, headers={"X-Api-Key": api_key["api_key"]}).status_code == 201
    )
    order = calm.settled(conflicting) if calm.order(account, conflicting) else {}
    assert (order["status"], order["step"]) == ("pending", "dead"), order
    assert "conflicting order" in order["failure"]
    calm.stack.restart(ADAPTER, WALLETSTUB_SAGA_MAX_ATTEMPTS="1", **FAST)
    calm.knobs(error_rate=1.0)
    failing = f"failing-{uuid.uuid4().hex[:8]}"
    calm.order(account, failing)
    assert calm.settled(failing)["step"] == "dead"
    assert calm.adapter.get("/v1/exchanges/testex").json()["dead_letters"] >= 2
    metrics = calm.adapter.get("/metrics").text
    assert 'exchange_saga_dead_letters_total{exchange="testex",from_state="placing"}' in metrics
    assert Decimal(calm.wallet.get(f"/v1/accounts/{account}").json()["balance"]) == Decimal("80.00")
    calm.stack.restart(ADAPTER, **FAST)


def test_two_adapter_replicas_never_drive_one_order_twice(calm: Harness) -> None:
    spec = calm.stack.specs[ADAPTER]
    port = free_port()
    twin = dataclasses.replace(spec, port=port, env={**spec.env, "WALLETSTUB_PORT": str(port)})
    replica = type(calm.stack.running[ADAPTER])(twin, calm.stack.state_dir / "exchange-twin.log", dict(FAST))
    replica.start()
    try:
        account = calm.funded("1000.00")
        calm.knobs(throttle_rate=1.0)
        keys = [f"twin-{index}-{uuid.uuid4().hex[:6]}" for index in range(12)]
        for key in keys:
            assert calm.order(account, key, "5.00") is not None
        calm.knobs(throttle_rate=0.0)
        orders = [calm.settled(key) for key in keys]
    finally:
        replica.stop()
    assert {order["step"] for order in orders} == {"placed"}
    assert sum(calm.at_exchange(order["exchange_client_order_id"]) for order in orders) == len(keys)
    assert Decimal(calm.wallet.get(f"/v1/accounts/{account}").json()["balance"]) == Decimal("940.00")
    assert calm.wallet.get("/v1/ledger/verify").json()["balanced"] is True
