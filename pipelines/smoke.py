"""``smoke``: is the deployed wallet alive and does money move? Health, one transfer, the ledger balances.

Against a gateway (an environment's API URL, or the local stack's) with the consumer and operator
keys; or directly against a wallet container started from the built image, where there is no
gateway and the service's own operations routes answer. Every money-moving call carries an
``Idempotency-Key``. Each part is one check, so a failure says which part and what came back.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from pipelines.results import CheckResult, Status, StepResult


@dataclass(frozen=True)
class SmokeTarget:
    """Where the smoke test goes: base URL, the keys and an end user's access token (all empty for a
    bare service without gateway; the gateway wants the token on public routes besides the key)."""

    url: str
    api_key: str = ""
    operator_key: str = ""
    token: str = ""
    label: str = "gateway"


class SmokeFailure(RuntimeError):
    """An answer the smoke test did not expect (the message has the request and the response)."""


def _call(
    http: httpx.Client,
    target: SmokeTarget,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    expect: int,
    operator: bool = False,
) -> dict[str, Any]:
    headers = {}
    key = target.operator_key if operator else target.api_key
    if key:
        headers["X-Api-Key"] = key
    if target.token and not operator:
        headers["Authorization"] = f"Bearer {target.token}"
    if method == "POST":
        headers["Idempotency-Key"] = str(uuid.uuid4())
    response = http.request(method, path, json=body, headers=headers)
    if response.status_code != expect:
        raise SmokeFailure(
            f"{method} {path}: expected {expect}, got {response.status_code}: {response.text[:300]}"
        )
    data: dict[str, Any] = response.json()
    return data


def _check(result: StepResult, name: str, action: Any) -> bool:
    started = time.monotonic()
    try:
        summary = action()
    except (SmokeFailure, httpx.HTTPError) as exc:
        result.checks.append(
            CheckResult(name, Status.failed, str(exc) or type(exc).__name__, [], time.monotonic() - started)
        )
        return False
    result.checks.append(CheckResult(name, Status.passed, summary, [], time.monotonic() - started))
    return True


def smoke(target: SmokeTarget, timeout: float = 30.0, step: str = "smoke") -> StepResult:
    """Health, then two accounts, a top-up and one transfer, then ``GET /v1/ledger/verify``."""
    started = time.monotonic()
    result = StepResult(step)
    result.artefacts[f"{target.label} url"] = target.url
    run = f"smoke-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=target.url.rstrip("/"), timeout=timeout) as http:

        def health() -> str:
            response = http.get("/healthz")
            if response.status_code != 200:
                raise SmokeFailure(f"GET /healthz: {response.status_code}: {response.text[:200]}")
            return f"GET /healthz 200 from {target.label}"

        def transfer() -> str:
            alice = _call(
                http, target, "POST", "/v1/accounts", {"owner": f"{run}-a", "currency": "EUR"}, expect=201
            )
            bob = _call(
                http, target, "POST", "/v1/accounts", {"owner": f"{run}-b", "currency": "EUR"}, expect=201
            )
            _call(
                http,
                target,
                "POST",
                "/v1/topups",
                {"account": alice["id"], "amount": "10.00", "currency": "EUR"},
                expect=201,
            )
            body = {"from_account": alice["id"], "to_account": bob["id"], "amount": "1.23", "currency": "EUR"}
            _call(http, target, "POST", "/v1/transfers", body, expect=201)
            balance = _call(http, target, "GET", f"/v1/accounts/{bob['id']}", expect=200)["balance"]
            if balance != "1.23":
                raise SmokeFailure(f"after the transfer the receiving account holds {balance}, not 1.23")
            return "10.00 EUR topped up, 1.23 EUR transferred and received"

        def ledger() -> str:
            verdict = _call(http, target, "GET", "/v1/ledger/verify", expect=200, operator=True)
            if not verdict.get("balanced", False):
                raise SmokeFailure(f"ledger does not balance: {verdict}")
            return (
                f"ledger balanced: {verdict.get('transfers')} transfers, {verdict.get('accounts')} accounts"
            )

        if _check(result, "health", health) and _check(result, "one transfer", transfer):
            _check(result, "ledger verify", ledger)
    result.seconds = time.monotonic() - started
    return result
