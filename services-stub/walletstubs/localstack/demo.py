"""The stack demo: a few real wallet operations through the gateway, then the ledger check.

Runs against a started stack (``stack status`` JSON): opens two accounts, tops one up, moves money
both ways, buys with round-ups until a sweep places an investment order, places one exchange order
directly, and asks ``GET /v1/ledger/verify`` with the operator key. Every money-moving call carries
an ``Idempotency-Key``; any unexpected answer stops the demo with the request and the problem body.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx


class DemoError(RuntimeError):
    """A demo request got an unexpected answer."""


class _Client:
    def __init__(self, status: dict[str, Any], log: Callable[[str], None]) -> None:
        self.http = httpx.Client(base_url=status["gateway_url"], timeout=30.0)
        self.services = {service["name"]: service["url"] for service in status["services"]}
        self.key = status["api_key"]
        self.operator_key = status["operator_api_key"]
        self.token = status["token"]
        self.log = log

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        expect: int | tuple[int, ...],
        operator: bool = False,
    ) -> dict[str, Any]:
        headers = {"X-Api-Key": self.operator_key if operator else self.key}
        if not operator:
            headers["Authorization"] = f"Bearer {self.token}"
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        response = self.http.request(method, path, json=body, headers=headers)
        self.log(f"  {method} {path} -> {response.status_code}")
        if response.status_code not in ((expect,) if isinstance(expect, int) else expect):
            raise DemoError(
                f"{method} {path}: expected {expect}, got {response.status_code}: {response.text}"
            )
        data: dict[str, Any] = response.json()
        return data


def run_demo(status: dict[str, Any], log: Callable[[str], None] = lambda _line: None) -> dict[str, Any]:
    """Run the scenario against the stack described by ``status``; returns what it did and the verdict."""
    client = _Client(status, log)
    try:
        alice = client.call("POST", "/v1/accounts", {"owner": "demo-alice", "currency": "EUR"}, expect=201)
        bob = client.call("POST", "/v1/accounts", {"owner": "demo-bob", "currency": "EUR"}, expect=201)
        client.call(
            "POST", "/v1/topups", {"account": alice["id"], "amount": "250.00", "currency": "EUR"}, expect=201
        )
        moves = [(alice, bob, "12.34"), (bob, alice, "2.34"), (alice, bob, "40.00")]
        for source, target, amount in moves:
            client.call(
                "POST",
                "/v1/transfers",
                {
                    "from_account": source["id"],
                    "to_account": target["id"],
                    "amount": amount,
                    "currency": "EUR",
                },
                expect=201,
            )
        exchange = _crypto_exchange(client)
        client.call(
            "PUT",
            f"/v1/roundups/accounts/{alice['id']}/settings",
            {"exchange": exchange, "symbol": "BTC", "currency": "EUR", "threshold": "1.00"},
            expect=200,
        )
        sweeps = []
        for amount, merchant in (("3.30", "bakery"), ("7.45", "books"), ("12.10", "grocer")):
            purchase = client.call(
                "POST",
                "/v1/roundups/purchases",
                {
                    "account": alice["id"],
                    "amount": amount,
                    "currency": "EUR",
                    "merchant": merchant,
                    "card_last4": "4242",
                },
                expect=201,
            )
            if purchase["sweep"]:
                sweeps.append(purchase["sweep"])
        order = client.call(
            "POST",
            f"/v1/exchanges/{exchange}/orders",
            {"account": alice["id"], "symbol": "BTC", "side": "buy", "amount": "10.00", "currency": "EUR"},
            expect=(201, 202),
        )
        settled = _settled_sweeps(client, alice["id"])
        verify = client.call("GET", "/v1/ledger/verify", expect=200, operator=True)
        balances = {
            name: client.call("GET", f"/v1/accounts/{account['id']}", expect=200)["balance"]
            for name, account in (("alice", alice), ("bob", bob))
        }
    finally:
        client.http.close()
    return {
        "gateway_url": status["gateway_url"],
        "balances": balances,
        "sweeps": settled or sweeps,
        "order": {key: order.get(key) for key in ("client_order_id", "exchange", "status", "amount", "fee")},
        "verify": verify,
    }


def _crypto_exchange(client: _Client) -> str:
    """The first configured crypto exchange (round-ups invest in BTC)."""
    for name in sorted(client.services):
        if name.startswith("exchange-"):
            exchange = name.removeprefix("exchange-")
            if client.call("GET", f"/v1/exchanges/{exchange}", expect=200)["kind"] == "crypto":
                return exchange
    raise DemoError("no crypto exchange adapter runs in this stack")


def _settled_sweeps(client: _Client, account: str, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The account's sweeps once none is pending any more (the adapter's relay drives them)."""
    deadline = time.monotonic() + timeout
    while True:
        sweeps: list[dict[str, Any]] = client.call("GET", f"/v1/roundups/accounts/{account}", expect=200)[
            "sweeps"
        ]
        if all(sweep["status"] != "pending" for sweep in sweeps) or time.monotonic() > deadline:
            return sweeps
        time.sleep(0.5)
