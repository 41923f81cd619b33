"""The roundups service end to end (wallet, exchange adapter, simulated exchange), on both backends."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest
from walletstubs.roundups.app import looks_like_pan

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("walletstubs")]
Problem = Callable[[httpx.Response, int], dict[str, Any]]
PAN = "4111 1111 1111 1111"


class Clients:
    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.wallet = httpx.Client(base_url=stack.running["wallet"].url, timeout=30)
        self.adapter = httpx.Client(base_url=stack.running["exchange-testex"].url, timeout=30)
        self.roundups = httpx.Client(base_url=stack.running["roundups"].url, timeout=30)

    def account(self, funds: str = "100.00", threshold: str | None = "1.00") -> str:
        account = str(
            self.wallet.post("/v1/accounts", json={"owner": "saver", "currency": "EUR"}).json()["id"]
        )
        topup = {"account": account, "amount": funds, "currency": "EUR"}
        assert self.wallet.post(
            "/v1/topups", json=topup, headers={"Idempotency-Key": uuid.uuid4().hex}
        ).is_success
        if threshold is not None:
            chosen = {"exchange": "testex", "symbol": "BTC", "currency": "EUR", "threshold": threshold}
            answer = self.roundups.put(f"/v1/roundups/accounts/{account}/settings", json=chosen)
            assert answer.status_code == 200, answer.text
        return account

    def purchase(self, account: str, amount: str, key: str | None = None, **extra: Any) -> httpx.Response:
        body = {
            "account": account,
            "amount": amount,
            "currency": "EUR",
            "merchant": "Bakery",
            "card_last4": "4242",
        }
        return self.roundups.post(
            "/v1/roundups/purchases",
            json={**body, **extra},
            headers={"Idempotency-Key": key or uuid.uuid4().hex},
        )

    def balance(self, account: str) -> Decimal:
        return Decimal(self.wallet.get(f"/v1/accounts/{account}").json()["balance"])

    def sweep_when_final(self, account: str, timeout: float = 20) -> dict[str, Any]:
        """The account's newest sweep once it has followed its order to placed or rejected."""
        deadline = time.monotonic() + timeout
        while True:
            sweep: dict[str, Any] = self.roundups.get(f"/v1/roundups/accounts/{account}").json()["sweeps"][0]
            if sweep["status"] in ("placed", "rejected") or time.monotonic() > deadline:
                return sweep
            time.sleep(0.2)


@pytest.fixture(scope="module")
def services(stack: Any) -> Any:
    stack.start("wallet")
    stack.start("simexchange-testex")
    stack.start("exchange-testex", WALLETSTUB_RELAY_INTERVAL_MS="200")
    stack.start("roundups", WALLETSTUB_RELAY_INTERVAL_MS="200")
    return stack


@pytest.fixture
def clients(services: Any) -> Iterator[Clients]:
    yield Clients(services)


def test_spare_change_is_swept_into_one_order_past_the_threshold(clients: Clients) -> None:
    account = clients.account()
    first = clients.purchase(account, "3.30").json()
    assert (first["roundup"], first["pending"], first["sweep"]) == ("0.70", "0.70", None)
    second = clients.purchase(account, "2.50").json()
    assert second["roundup"] == "0.50" and second["pending"] == "0.00"
    assert (second["sweep"]["amount"], second["sweep"]["status"]) == ("1.20", "pending")
    sweep = clients.sweep_when_final(account)
    assert (sweep["id"], sweep["status"], sweep["order_status"]) == (
        second["sweep"]["id"],
        "placed",
        "placed",
    )
    order = clients.adapter.get(f"/v1/exchanges/testex/orders/roundup-{sweep['id']}").json()
    assert (order["account"], order["amount"], order["status"]) == (account, "1.20", "placed")
    assert clients.balance(account) == Decimal("98.80")
    assert clients.purchase(account, "4.00").json()["roundup"] == "0.00"
    view = clients.roundups.get(f"/v1/roundups/accounts/{account}").json()
    assert [s["id"] for s in view["sweeps"]] == [sweep["id"]]
    assert view["pending"] == [{"currency": "EUR", "amount": "0.00"}]


def test_a_retried_purchase_counts_once(clients: Clients, problem: Problem) -> None:
    account = clients.account(threshold="5.00")
    first = clients.purchase(account, "1.25", key="purchase-1")
    again = clients.purchase(account, "1.25", key="purchase-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    problem(clients.purchase(account, "9.99", key="purchase-1"), 422)
    view = clients.roundups.get(f"/v1/roundups/accounts/{account}").json()
    assert view["pending"] == [{"currency": "EUR", "amount": "0.75"}]


def test_concurrent_duplicates_all_get_the_first_real_answer(clients: Clients) -> None:
    account = clients.account(threshold="1.00")
    clients.purchase(account, "0.50")
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: clients.purchase(account, "1.10", key="dup-sweep"), range(12)))
    assert {answer.status_code for answer in answers} == {201}
    bodies = {json.dumps(answer.json(), sort_keys=True) for answer in answers}
    assert len(bodies) == 1
    first = answers[0].json()
    assert first["sweep"] is not None and first["sweep"]["amount"] == "1.40" and first["pending"] == "0.00"
    assert sum("Idempotent-Replayed" not in answer.headers for answer in answers) == 1
    assert clients.sweep_when_final(account)["status"] == "placed"
    assert clients.balance(account) == Decimal("98.60")


def test_purchases_and_keys_belong_to_their_consumer(clients: Clients, problem: Problem) -> None:
    account = clients.account(threshold="5.00")
    answers = [
        clients.roundups.post(
            "/v1/roundups/purchases",
            json={
                "account": account,
                "amount": "1.50",
                "currency": "EUR",
                "merchant": "m",
                "card_last4": "4242",
            },
            headers={"Idempotency-Key": "same-key", "X-Consumer": consumer},
        )
        for consumer in ("mobile-app", "partner-api")
    ]
    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[1].json()["pending"] == "1.00"
    assert clients.purchase(account, "1.00", key="p" * 255).status_code == 201
    problem(clients.purchase(account, "1.00", key="p" * 256), 400)
    assert "purchase_id" in problem(clients.purchase(account, "1.00", key="with/slash"), 400)["detail"]


def test_a_sweep_whose_order_is_refused_returns_the_change_to_the_pool(clients: Clients) -> None:
    account = clients.account(threshold="1.00")
    sim = httpx.Client(base_url=clients.stack.running["simexchange-testex"].url, timeout=30)
    knobs = sim.get("/admin/knobs").json()
    sim.put("/admin/knobs", json={**knobs, "reject_rate": 1.0})
    try:
        assert clients.purchase(account, "3.40").json()["sweep"] is None
        assert clients.purchase(account, "4.50").json()["sweep"]["amount"] == "1.10"
        sweep = clients.sweep_when_final(account)
    finally:
        sim.put("/admin/knobs", json=knobs)
    assert (sweep["status"], sweep["order_status"]) == ("rejected", "rejected")
    view = clients.roundups.get(f"/v1/roundups/accounts/{account}").json()
    assert view["pending"] == [{"currency": "EUR", "amount": "1.10"}]
    assert clients.balance(account) == Decimal("100.00")


def test_card_numbers_are_refused_and_never_echoed_or_logged(clients: Clients, problem: Problem) -> None:
    account = clients.account()
    for extra in ({"card_last4": None, "card_token": None, "card_number": PAN}, {"merchant": f"shop {PAN}"}):
        answer = problem(clients.purchase(account, "2.00", **extra), 422)
        assert "full card number" in answer["detail"]
        assert "4111 1111" not in str(answer)
    problem(clients.purchase(account, "2.00", card_last4="4111111111111111"), 422)
    time.sleep(0.2)
    log = clients.stack.running["roundups"].log_path.read_text()
    assert "4111111111111111" not in log and "4111 1111" not in log


def test_bad_purchases_and_settings_get_problems(clients: Clients, problem: Problem) -> None:
    account = clients.account(threshold=None)
    assert "does not exist" in problem(clients.purchase(str(uuid.uuid4()), "2.00"), 422)["detail"]
    assert (
        "card_last4 or card_token"
        in problem(clients.purchase(account, "2.00", card_last4=None), 422)["detail"]
    )
    detail = problem(clients.purchase(account, "2.001"), 422)["detail"]
    assert "decimal places" in detail, detail
    body = {"account": account, "amount": "2.00", "currency": "EUR", "merchant": "m", "card_last4": "4242"}
    problem(clients.roundups.post("/v1/roundups/purchases", json=body), 400)
    settings = {"exchange": "nasdaq", "symbol": "BTC", "currency": "EUR", "threshold": "1.00"}
    answer = problem(clients.roundups.put(f"/v1/roundups/accounts/{account}/settings", json=settings), 422)
    assert "allowed: testex" in answer["detail"]
    usd = {**settings, "exchange": "testex", "currency": "USD"}
    problem(clients.roundups.put(f"/v1/roundups/accounts/{account}/settings", json=usd), 422)


def test_a_sweep_waits_out_an_adapter_crash(clients: Clients) -> None:
    account = clients.account(threshold="1.00")
    adapter = clients.stack.running["exchange-testex"]
    adapter.kill9()
    try:
        assert clients.purchase(account, "0.10").json()["sweep"] is None
        answer = clients.purchase(account, "0.10").json()
        assert answer["sweep"]["status"] == "pending" and answer["sweep"]["amount"] == "1.80"
    finally:
        adapter.start()
    assert clients.sweep_when_final(account)["status"] == "placed"
    assert clients.balance(account) == Decimal("98.20")


def test_openapi_fuzzing_finds_no_server_error(clients: Clients, fuzz: Callable[..., str]) -> None:
    assert "selected" in fuzz(str(clients.roundups.base_url).rstrip("/"))


def test_account_ids_are_never_mistaken_for_card_numbers() -> None:
    assert looks_like_pan("4111 1111 1111 1111") and looks_like_pan("x4111111111111111y")
    assert not looks_like_pan("41111111-1111-4111-8111-111111111111")
    assert not looks_like_pan("order 4111 1111 1111 1112")
