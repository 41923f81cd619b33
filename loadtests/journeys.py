"""The wallet's user journeys as a Locust ``FastHttpUser``, weighted like a wallet's real traffic.

Weights (of 100 task picks): balance checks 40 (the cached hot path), card purchases that feed
round-ups 18, P2P transfers 15, top-ups 10, sign-ups 5 and exchange orders 12, split evenly over
one generated ``TaskSet`` per exchange of the environment config — a new exchange in
``Pulumi.<env>.yaml`` is load-tested without a code change.

Data is realistic: each user creates and funds a pool of accounts in ``on_start`` (the first
sweeping its round-ups to a crypto exchange), amounts are drawn from plausible ranges, every
money-moving POST carries a fresh ``Idempotency-Key``, and a fraction of them is deliberately sent
twice with the same key; the second send is recorded
under its own name (``... (replay)``) and fails unless the API answers ``Idempotent-Replayed:
true`` with the same resource id, so the error-rate gate also guards idempotency under load.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

from gevent.pool import Pool
from locust import FastHttpUser, TaskSet, between, constant, task
from locust.contrib.fasthttp import FastResponse, ResponseContextManager

from contracts.config import load_environment
from loadtests.mix import BASE_WEIGHTS, exchange_weight
from loadtests.settings import RunSettings

CURRENCY = "EUR"
POOL_SIZE = 3
SYMBOLS: dict[str, tuple[str, ...]] = {
    "crypto": ("BTC", "ETH", "SOL"),
    "stock": ("AAPL", "MSFT", "VWCE"),
}
MERCHANTS = ("grocer", "cafe", "transit", "bookshop", "pharmacy", "cinema")

# Accounts other users opened, so P2P transfers cross users like real ones (per process, bounded).
RECIPIENTS: deque[str] = deque(maxlen=2000)


def money(low: str, high: str) -> Decimal:
    """A random amount between ``low`` and ``high`` with cent precision."""
    cents = random.randint(int(Decimal(low) * 100), int(Decimal(high) * 100))
    return Decimal(cents) / 100


class WalletUser(FastHttpUser):
    """One app user: a pool of funded accounts, then a weighted mix of journeys through the gateway."""

    abstract = True
    wait_time = between(0.5, 2.0)
    settings: ClassVar[RunSettings] = RunSettings()
    exchanges: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accounts: list[str] = []
        self.funds: dict[str, Decimal] = {}

    def headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"X-Api-Key": self.settings.api_key, "Accept": "application/json"}
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def on_start(self) -> None:
        for _ in range(POOL_SIZE):
            account = self.open_account()
            if account:
                self.accounts.append(account)
                self.deposit(account, money("200", "500"))
        if self.accounts:
            self.choose_roundups(self.accounts[0])

    def choose_roundups(self, account: str) -> None:
        """Send this account's spare change to a crypto exchange once it reaches 5 EUR."""
        crypto = [name for name, kind in self.exchanges if kind == "crypto"]
        if not crypto:
            return
        body = {"exchange": random.choice(crypto), "symbol": "BTC", "currency": CURRENCY, "threshold": "5.00"}
        with self.client.put(
            f"/v1/roundups/accounts/{account}/settings",
            json=body,
            headers=self.headers(),
            name="/v1/roundups/accounts/{id}/settings",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")

    def open_account(self) -> str | None:
        """``POST /v1/accounts``; the new id, or None when the request failed."""
        body = {"owner": f"lt-{uuid.uuid4().hex[:12]}", "currency": CURRENCY}
        created = self.post("/v1/accounts", body, "/v1/accounts", idempotent=False)
        if created is None:
            return None
        self.funds[created["id"]] = Decimal(0)
        return str(created["id"])

    def deposit(self, account: str, amount: Decimal) -> None:
        body = {"account": account, "amount": str(amount), "currency": CURRENCY}
        if self.post("/v1/topups", body, "/v1/topups") is not None:
            self.funds[account] = self.funds.get(account, Decimal(0)) + amount

    def post(
        self, path: str, body: dict[str, Any], name: str, *, idempotent: bool = True, id_field: str = "id"
    ) -> dict[str, Any] | None:
        """POST ``body``; money-moving calls get an Idempotency-Key and, sometimes, a deliberate replay."""
        key = str(uuid.uuid4()) if idempotent else None
        with self.client.post(
            path, json=body, headers=self.headers(key), name=name, catch_response=True
        ) as response:
            created = self.expect_created(response, id_field)
        if created is not None and key is not None and random.random() < self.settings.retry_fraction:
            self.replay(path, body, name, key, created, id_field=id_field)
        return created

    def expect_created(
        self, response: ResponseContextManager | FastResponse, id_field: str = "id"
    ) -> dict[str, Any] | None:
        """The created resource; a non-2xx answer or a body without ``id_field`` marks a failure."""
        if response.status_code not in (200, 201, 202):
            response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
            return None
        try:
            document = response.json()
        except ValueError:
            response.failure("response is not JSON")
            return None
        if not isinstance(document, dict) or id_field not in document:
            response.failure(f"response has no '{id_field}'")
            return None
        return document

    def replay(
        self, path: str, body: dict[str, Any], name: str, key: str, first: dict[str, Any], *, id_field: str
    ) -> None:
        """Send the same request with the same key: it must be answered from the idempotency store."""
        with self.client.post(
            path, json=body, headers=self.headers(key), name=f"{name} (replay)", catch_response=True
        ) as response:
            again = self.expect_created(response, id_field)
            if again is None:
                return
            if (response.headers.get("Idempotent-Replayed") or "").lower() != "true":
                response.failure("replay not flagged with Idempotent-Replayed: true")
            elif again.get(id_field) != first.get(id_field):
                response.failure(
                    f"replay created a new resource ({again.get(id_field)} != {first.get(id_field)})"
                )

    def pick_account(self) -> str | None:
        return random.choice(self.accounts) if self.accounts else None

    def check_balance(self) -> None:
        """``GET /v1/accounts/{id}``: the hot path served from the cache."""
        account = self.pick_account()
        if account is None:
            return
        with self.client.get(
            f"/v1/accounts/{account}", headers=self.headers(), name="/v1/accounts/{id}", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            try:
                Decimal(str(response.json()["balance"]))
            except (ValueError, KeyError, TypeError, ArithmeticError):
                response.failure("balance is not a decimal string")

    def top_up(self) -> None:
        account = self.pick_account()
        if account is not None:
            self.deposit(account, money("10", "250"))

    def p2p_transfer(self) -> None:
        """Send a small amount to another user's account (or between own accounts early in a run)."""
        source = self.pick_account()
        if source is None:
            return
        amount = money("1", "50")
        if self.funds.get(source, Decimal(0)) < amount:
            self.deposit(source, money("100", "250"))
            return
        others = [a for a in RECIPIENTS if a not in self.accounts] if RECIPIENTS else []
        target = (
            random.choice(others)
            if others
            else random.choice([a for a in self.accounts if a != source] or [source])
        )
        if target == source:
            return
        body = {"from_account": source, "to_account": target, "amount": str(amount), "currency": CURRENCY}
        if self.post("/v1/transfers", body, "/v1/transfers") is not None:
            self.funds[source] -= amount

    def card_purchase(self) -> None:
        """A card purchase; the round-up service rounds it to the next euro into savings."""
        account = self.pick_account()
        if account is None:
            return
        body = {
            "account": account,
            "amount": str(money("0.50", "120")),
            "currency": CURRENCY,
            "merchant": random.choice(MERCHANTS),
            "card_last4": f"{random.randint(0, 9999):04d}",
        }
        purchase = self.post("/v1/roundups/purchases", body, "/v1/roundups/purchases", id_field="purchase_id")
        if purchase is not None:
            # Swept change leaves the account later; count it as spent now so no payment overdraws.
            self.funds[account] = self.funds.get(account, Decimal(0)) - Decimal(
                str(purchase.get("roundup", "0"))
            )

    def sign_up(self) -> None:
        """A new customer opens an account and funds it; it becomes a P2P recipient for others."""
        account = self.open_account()
        if account is not None:
            self.deposit(account, money("20", "100"))
            RECIPIENTS.append(account)

    def place_order(self, exchange: str, kind: str) -> None:
        """Invest a small amount on ``exchange``; the adapter debits the wallet account."""
        account = self.pick_account()
        if account is None:
            return
        amount = money("5", "100")
        if self.funds.get(account, Decimal(0)) < amount:
            self.deposit(account, money("100", "250"))
            return
        body = {
            "account": account,
            "side": "buy",
            "symbol": random.choice(SYMBOLS[kind]),
            "amount": str(amount),
            "currency": CURRENCY,
        }
        path = f"/v1/exchanges/{exchange}/orders"
        if self.post(path, body, path, id_field="client_order_id") is not None:
            self.funds[account] -= amount


def _journey(method: str) -> Callable[[WalletUser], None]:
    def run(user: WalletUser) -> None:
        getattr(user, method)()

    run.__name__ = method
    return run


def exchange_task_set(exchange: str, kind: str) -> type[TaskSet]:
    """A ``TaskSet`` placing one order on ``exchange`` per pick (then handing back to the user)."""

    def order(task_set: TaskSet) -> None:
        user = task_set.user
        assert isinstance(user, WalletUser)
        user.place_order(exchange, kind)
        task_set.interrupt(reschedule=False)

    order.__name__ = f"order_{exchange.replace('-', '_')}"
    class_name = "".join(part.capitalize() for part in exchange.split("-")) + "Orders"
    return type(class_name, (TaskSet,), {"tasks": [order], "exchange": exchange, "kind": kind})


MAX_IN_FLIGHT = 64
"""Requests one arrival generator keeps open at most; an arrival beyond it is recorded as dropped."""


class ArrivalUser(WalletUser):
    """A request generator of the open model: it starts one weighted journey every
    ``users / arrival_rate`` seconds without waiting for the previous one to finish.

    Journeys run in their own greenlets (at most :data:`MAX_IN_FLIGHT` at once); an arrival that
    finds the pool full is recorded as a failed ``ARRIVAL dropped`` request, so an overloaded
    system fails the error-rate gate instead of being offered less load.
    """

    abstract = True
    concurrency = MAX_IN_FLIGHT
    journeys: ClassVar[list[tuple[Callable[[WalletUser], None], int]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = Pool(MAX_IN_FLIGHT)

    @task
    def arrive(self) -> None:
        journey = random.choices([j for j, _ in self.journeys], [w for _, w in self.journeys])[0]
        if self.in_flight.full():
            self.environment.events.request.fire(
                request_type="ARRIVAL",
                name="dropped",
                response_time=0,
                response_length=0,
                exception=RuntimeError(f"{MAX_IN_FLIGHT} requests already in flight"),
                context={},
            )
            return
        self.in_flight.spawn(journey, self)

    def on_stop(self) -> None:
        self.in_flight.join(timeout=5)
        self.in_flight.kill()


def _order(exchange: str, kind: str) -> Callable[[WalletUser], None]:
    def run(user: WalletUser) -> None:
        user.place_order(exchange, kind)

    run.__name__ = f"order_{exchange.replace('-', '_')}"
    return run


def build_arrival_class(exchanges: list[tuple[str, str]], settings: RunSettings) -> type[ArrivalUser]:
    """The open-model generator class: the same journeys and weights, at ``settings.arrival_rate``."""
    share = exchange_weight(len(exchanges))
    journeys = [(_journey(name), weight) for name, weight in BASE_WEIGHTS.items()]
    journeys += [(_order(name, kind), share) for name, kind in exchanges]
    namespace = {
        "abstract": False,
        "settings": settings,
        "exchanges": list(exchanges),
        "journeys": journeys,
        "wait_time": constant(settings.users / settings.arrival_rate),
    }
    return type("WalletArrivals", (ArrivalUser,), namespace)


def configured_exchanges(settings: RunSettings) -> list[tuple[str, str]]:
    """``(name, kind)`` of each exchange: from ``WALLETOPS_LT_EXCHANGES`` (name:kind,...) or the config."""
    if settings.exchanges:
        return [(name, kind) for name, _, kind in (item.partition(":") for item in settings.exchanges)]
    model = load_environment(settings.env, settings.resolved_project_dir())
    return [(exchange.name, exchange.kind) for exchange in model.exchanges]


def build_user_class(exchanges: list[tuple[str, str]], settings: RunSettings) -> type[WalletUser]:
    """The concrete user class for these ``(name, kind)`` exchanges and run settings."""
    tasks: dict[Any, int] = {_journey(name): weight for name, weight in BASE_WEIGHTS.items()}
    share = exchange_weight(len(exchanges))
    for name, kind in exchanges:
        tasks[exchange_task_set(name, kind)] = share
    namespace = {"tasks": tasks, "abstract": False, "settings": settings, "exchanges": list(exchanges)}
    return type("WalletAppUser", (WalletUser,), namespace)
