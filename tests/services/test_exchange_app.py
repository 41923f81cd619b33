"""The exchange adapter against its simulated exchange and the wallet, on both backends: one order per
client order id, ledger and exchange agreeing after faults, timeouts and ``kill -9``."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("walletstubs")]
Problem = Callable[[httpx.Response, int], dict[str, Any]]
ORDERS = "/v1/exchanges/testex/orders"


class Clients:
    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.wallet = httpx.Client(base_url=stack.running["wallet"].url, timeout=30)
        self.sim = httpx.Client(base_url=stack.running["simexchange-testex"].url, timeout=30)
        self.adapter = httpx.Client(base_url=stack.running["exchange-testex"].url, timeout=30)

    def account(self, funds: str) -> str:
        account = self.wallet.post("/v1/accounts", json={"owner": "investor", "currency": "EUR"}).json()["id"]
        topup = {"account": account, "amount": funds, "currency": "EUR"}
        assert self.wallet.post(
            "/v1/topups", json=topup, headers={"Idempotency-Key": uuid.uuid4().hex}
        ).is_success
        return str(account)

    def balance(self, account: str) -> Decimal:
        return Decimal(self.wallet.get(f"/v1/accounts/{account}").json()["balance"])

    def order(self, account: str, amount: str, key: str, symbol: str = "BTC") -> httpx.Response:
        body = {"account": account, "symbol": symbol, "side": "buy", "amount": amount, "currency": "EUR"}
        return self.adapter.post(ORDERS, json=body, headers={"Idempotency-Key": key})

    def knobs(self, **values: Any) -> None:
        current = self.sim.get("/admin/knobs").json()
        assert self.sim.put("/admin/knobs", json={**current, **values}).status_code == 200

    def exchange_ids(self, keys: list[str], consumer: str | None = None) -> dict[str, str]:
        """Client order id -> the id the exchange knows the order by, for the orders that exist."""
        headers = {"X-Consumer": consumer} if consumer else {}
        found = {key: self.adapter.get(f"{ORDERS}/{key}", headers=headers) for key in keys}
        return {key: r.json()["exchange_client_order_id"] for key, r in found.items() if r.status_code == 200}

    def sim_orders(self, keys: list[str], consumer: str | None = None) -> list[dict[str, Any]]:
        """The simulated exchange's orders for these client order ids (tests share one exchange)."""
        wanted = set(self.exchange_ids(keys, consumer).values())
        orders: list[dict[str, Any]] = self.sim.get("/v1/orders").json()["orders"]
        return [order for order in orders if order["client_order_id"] in wanted]

    def wait_settled(self, keys: list[str], timeout: float = 30) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            states = {
                key: self.adapter.get(f"{ORDERS}/{key}").json().get("status", "missing") for key in keys
            }
            if "pending" not in states.values() or time.monotonic() > deadline:
                return states
            time.sleep(0.3)


@pytest.fixture(scope="module")
def services(stack: Any) -> Any:
    stack.start("wallet")
    stack.start("simexchange-testex")
    stack.start("exchange-testex", WALLETSTUB_RELAY_INTERVAL_MS="200")
    return stack


@pytest.fixture
def clients(services: Any) -> Iterator[Clients]:
    """Clients of the module's services; the simulated exchange's knobs are reset after each test."""
    clients = Clients(services)
    yield clients
    clients.sim.put(
        "/admin/knobs", json={"latency_ms": 0, "error_rate": 0, "timeout_rate": 0, "timeout_ms": 5000}
    )


def test_an_order_debits_the_wallet_once_and_places_once(clients: Clients, problem: Problem) -> None:
    account = clients.account("100.00")
    first = clients.order(account, "10.00", "order-1")
    assert first.status_code == 201, first.text
    order = first.json()
    assert order["status"] == "placed" and order["fee"] == "0.03" and Decimal(order["quantity"]) > 0
    again = clients.order(account, "10.00", "order-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["exchange_order_id"] == order["exchange_order_id"]
    problem(clients.order(account, "11.00", "order-1"), 422)
    assert clients.balance(account) == Decimal("90.00")
    placed = clients.sim_orders(["order-1"])
    assert [o["client_order_id"] for o in placed] == [order["exchange_client_order_id"]]
    assert placed[0]["notional"] == "9.97" and order["step"] == "placed"
    exchange_id = order["exchange_client_order_id"]
    assert exchange_id.startswith("wo-") and len(exchange_id) == 35


def test_refusals_write_nothing(clients: Clients, problem: Problem) -> None:
    account = clients.account("5.00")
    rejected = problem(clients.order(account, "50.00", "too-much"), 422)
    assert rejected["order"]["status"] == "rejected" and "less than 50.00" in rejected["detail"]
    assert "not listed" in problem(clients.order(account, "2.00", "bad-symbol", symbol="NOPE"), 422)["detail"]
    assert "from 1 to 10000" in problem(clients.order(account, "0.50", "tiny"), 422)["detail"]
    body = {"account": account, "symbol": "BTC", "side": "buy", "amount": "2.00", "currency": "EUR"}
    problem(
        clients.adapter.post("/v1/exchanges/other/orders", json=body, headers={"Idempotency-Key": "x"}), 404
    )
    problem(clients.adapter.post(ORDERS, json=body), 400)
    problem(
        clients.adapter.post(ORDERS, json={**body, "side": "short"}, headers={"Idempotency-Key": "y"}), 422
    )
    assert clients.balance(account) == Decimal("5.00")
    assert clients.sim_orders(["too-much", "bad-symbol", "tiny", "x", "y"]) == []


def test_exchange_errors_leave_the_order_pending_until_the_relay_places_it(clients: Clients) -> None:
    account = clients.account("100.00")
    clients.knobs(error_rate=1.0)
    pending = clients.order(account, "20.00", "during-outage")
    assert pending.status_code == 202 and pending.json()["status"] == "pending"
    assert clients.adapter.get("/v1/exchanges/testex").json()["pending_orders"] == 1
    clients.knobs(error_rate=0.0)
    assert clients.wait_settled(["during-outage"]) == {"during-outage": "placed"}
    assert clients.balance(account) == Decimal("80.00")
    assert len(clients.sim_orders(["during-outage"])) == 1


def test_a_timed_out_order_is_not_placed_twice(clients: Clients) -> None:
    account = clients.account("100.00")
    clients.knobs(timeout_rate=1.0, timeout_ms=1500)
    answer = clients.order(account, "30.00", "slow-exchange")
    assert answer.status_code in (201, 202), answer.text
    clients.knobs(timeout_rate=0.0)
    assert clients.wait_settled(["slow-exchange"]) == {"slow-exchange": "placed"}
    assert len(clients.sim_orders(["slow-exchange"])) == 1
    assert clients.balance(account) == Decimal("70.00")


def test_kill_9_of_the_adapter_mid_burst_loses_and_duplicates_nothing(clients: Clients, stack: Any) -> None:
    account = clients.account("1000.00")
    keys = [f"burst-{index}" for index in range(40)]
    adapter = stack.running["exchange-testex"]
    clients.knobs(latency_ms=30)
    started = threading.Event()

    def fire() -> None:
        with httpx.Client(base_url=adapter.url, timeout=10) as client:
            for index, key in enumerate(keys):
                if index == 8:
                    started.set()
                body = {
                    "account": account,
                    "symbol": "ETH",
                    "side": "buy",
                    "amount": "5.00",
                    "currency": "EUR",
                }
                try:
                    client.post(ORDERS, json=body, headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    return

    sender = threading.Thread(target=fire)
    sender.start()
    assert started.wait(30)
    adapter.kill9()
    sender.join(30)
    adapter.start()
    for key in keys:
        assert clients.order(account, "5.00", key, symbol="ETH").status_code in (201, 202)
    states = clients.wait_settled(keys)
    assert set(states.values()) == {"placed"}, states
    placed_at_exchange = [o["client_order_id"] for o in clients.sim_orders(keys)]
    assert sorted(placed_at_exchange) == sorted(clients.exchange_ids(keys).values())
    assert len(placed_at_exchange) == len(keys)
    assert clients.balance(account) == Decimal("1000.00") - 5 * len(keys)
    assert clients.wallet.get("/v1/ledger/verify").json()["balanced"] is True


def test_client_order_ids_and_keys_belong_to_their_consumer(clients: Clients) -> None:
    account = clients.account("100.00")
    body = {"account": account, "symbol": "BTC", "side": "buy", "amount": "10.00", "currency": "EUR"}
    answers = {
        consumer: clients.adapter.post(
            ORDERS, json=body, headers={"Idempotency-Key": "shared-key", "X-Consumer": consumer}
        )
        for consumer in ("mobile-app", "partner-api")
    }
    assert {answer.status_code for answer in answers.values()} == {201}
    assert not any("Idempotent-Replayed" in answer.headers for answer in answers.values())
    ids = {answer.json()["exchange_client_order_id"] for answer in answers.values()}
    assert len(ids) == 2
    assert clients.balance(account) == Decimal("80.00")
    mine = clients.adapter.get(f"{ORDERS}/shared-key", headers={"X-Consumer": "mobile-app"}).json()
    assert mine["exchange_client_order_id"] == answers["mobile-app"].json()["exchange_client_order_id"]
    assert clients.adapter.get(f"{ORDERS}/shared-key").status_code == 404


def test_long_and_malformed_keys_get_a_problem_not_a_server_error(clients: Clients, problem: Problem) -> None:
    account = clients.account("100.00")
    long_key = "k" * 200
    assert clients.order(account, "5.00", long_key).status_code == 201
    assert clients.order(account, "5.00", long_key).headers["Idempotent-Replayed"] == "true"
    body = {"account": account, "symbol": "BTC", "side": "buy", "amount": "5.00", "currency": "EUR"}
    for key in (b"k" * 256, b"bad key", "café".encode()):
        problem(clients.adapter.post(ORDERS, json=body, headers={b"Idempotency-Key": key}), 400)
    assert "client_order_id" in problem(clients.order(account, "5.00", "slash/key"), 400)["detail"]
    assert clients.balance(account) == Decimal("95.00")


def test_quotes_are_cached_briefly(clients: Clients, problem: Problem) -> None:
    first = clients.adapter.get("/v1/exchanges/testex/quotes/BTC").json()
    clients.knobs(error_rate=1.0)
    assert clients.adapter.get("/v1/exchanges/testex/quotes/BTC").json() == first
    time.sleep(2.2)
    problem(clients.adapter.get("/v1/exchanges/testex/quotes/BTC"), 503)
    problem(clients.adapter.get("/v1/exchanges/testex/quotes/btc%3Bx"), 422)


def test_openapi_fuzzing_finds_no_server_error(clients: Clients, fuzz: Callable[..., str]) -> None:
    assert "selected" in fuzz(str(clients.adapter.base_url).rstrip("/"))
    assert "selected" in fuzz(str(clients.sim.base_url).rstrip("/"), "--exclude-path-regex=^/admin")
