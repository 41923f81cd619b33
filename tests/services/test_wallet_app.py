"""The wallet service over HTTP, on both backends: idempotency, concurrency, crash safety, bad input."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("walletstubs")]
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
Problem = Callable[[httpx.Response, int], dict[str, Any]]


def _open(client: httpx.Client, owner: str = "user", currency: str = "EUR") -> str:
    response = client.post("/v1/accounts", json={"owner": owner, "currency": currency})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _topup(client: httpx.Client, account: str, amount: str, currency: str = "EUR") -> httpx.Response:
    return client.post(
        "/v1/topups",
        json={"account": account, "amount": amount, "currency": currency},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


def _balance(client: httpx.Client, account: str, *, fresh: bool = False) -> Decimal:
    headers = {"Cache-Control": "no-cache"} if fresh else {}
    response = client.get(f"/v1/accounts/{account}", headers=headers)
    assert response.status_code == 200, response.text
    return Decimal(response.json()["balance"])


@pytest.fixture(scope="module")
def wallet(stack: Any) -> Iterator[httpx.Client]:
    service = stack.start("wallet")
    with httpx.Client(base_url=service.url, timeout=30) as client:
        yield client


def _books(client: httpx.Client) -> dict[str, Any]:
    verdict: dict[str, Any] = client.get("/v1/ledger/verify").json()
    return verdict


def test_account_round_trip_with_decimal_balance(wallet: httpx.Client) -> None:
    account = _open(wallet, "user-1", "EUR")
    assert _topup(wallet, account, "12.30").status_code == 201
    body = wallet.get(f"/v1/accounts/{account}").json()
    assert body["balance"] == "12.30"
    assert body["currency"] == "EUR" and body["owner"] == "user-1"


def test_fifty_concurrent_requests_with_one_key_make_one_transfer(wallet: httpx.Client, stack: Any) -> None:
    source, target = _open(wallet), _open(wallet)
    assert _topup(wallet, source, "100.00").status_code == 201
    before = _books(wallet)["transfers"]
    body = {"from_account": source, "to_account": target, "amount": "7.00", "currency": "EUR"}

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=stack.running["wallet"].url, timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post("/v1/transfers", json=body, headers={"Idempotency-Key": "one-key"})
                    for _ in range(50)
                )
            )

    responses = asyncio.run(burst())
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    replayed = [response for response in responses if response.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == 49
    assert _balance(wallet, source) == Decimal("93.00")
    assert _balance(wallet, target) == Decimal("7.00")
    assert _books(wallet)["transfers"] == before + 1


def test_same_key_with_a_different_body_is_rejected(wallet: httpx.Client, problem: Problem) -> None:
    source, target = _open(wallet), _open(wallet)
    _topup(wallet, source, "10.00")
    headers = {"Idempotency-Key": "k-1"}
    first = {"from_account": source, "to_account": target, "amount": "1.00", "currency": "EUR"}
    assert wallet.post("/v1/transfers", json=first, headers=headers).status_code == 201
    body = problem(wallet.post("/v1/transfers", json={**first, "amount": "2.00"}, headers=headers), 422)
    assert "Idempotency-Key" in body["detail"]
    assert _balance(wallet, source) == Decimal("9.00")


def test_idempotency_keys_are_scoped_per_gateway_consumer(wallet: httpx.Client) -> None:
    source, target = _open(wallet), _open(wallet)
    _topup(wallet, source, "10.00")
    body = {"from_account": source, "to_account": target, "amount": "1.00", "currency": "EUR"}
    ids = {
        wallet.post(
            "/v1/transfers", json=body, headers={"Idempotency-Key": "shared", "X-Consumer": name}
        ).json()["id"]
        for name in ("mobile-app", "partner-api", "mobile-app")
    }
    assert len(ids) == 2
    assert _balance(wallet, source) == Decimal("8.00")


def test_thousand_random_concurrent_transfers_keep_the_books(wallet: httpx.Client, stack: Any) -> None:
    before = _books(wallet)
    accounts = [_open(wallet, f"user-{index}") for index in range(20)]
    for account in accounts:
        assert _topup(wallet, account, "50.00").status_code == 201
    rng = random.Random(20261125)
    plan = []
    for _ in range(1000):
        source, target = rng.sample(accounts, 2)
        plan.append(
            {"from_account": source, "to_account": target, "amount": f"{rng.randint(1, 2500) / 100:.2f}"}
        )

    async def burst() -> list[int]:
        limit = asyncio.Semaphore(40)
        async with httpx.AsyncClient(base_url=stack.running["wallet"].url, timeout=120) as client:

            async def one(item: dict[str, str]) -> int:
                async with limit:
                    response = await client.post(
                        "/v1/transfers",
                        json={**item, "currency": "EUR"},
                        headers={"Idempotency-Key": uuid.uuid4().hex},
                    )
                    return response.status_code

            return await asyncio.gather(*(one(item) for item in plan))

    statuses = asyncio.run(burst())
    assert set(statuses) <= {201, 422}, statuses
    assert statuses.count(201) > 500
    balances = [_balance(wallet, account) for account in accounts]
    assert all(balance >= 0 for balance in balances)
    assert sum(balances) == Decimal("1000.00")
    assert balances == [_balance(wallet, account, fresh=True) for account in accounts]
    assert _books(wallet) == {
        "balanced": True,
        "transfers": before["transfers"] + 20 + statuses.count(201),
        "accounts": before["accounts"] + 20,
        "issues": [],
    }


def test_cached_balance_is_never_older_than_the_last_transfer(wallet: httpx.Client) -> None:
    source, target = _open(wallet), _open(wallet)
    _topup(wallet, source, "10.00")
    first = wallet.get(f"/v1/accounts/{source}")
    assert wallet.get(f"/v1/accounts/{source}").headers["X-Cache"] == "hit"
    assert first.json()["balance"] == "10.00"
    for step in range(1, 6):
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        body = {"from_account": source, "to_account": target, "amount": "1.00", "currency": "EUR"}
        assert wallet.post("/v1/transfers", json=body, headers=headers).status_code == 201
        assert _balance(wallet, source) == Decimal(10 - step)
        assert _balance(wallet, target) == Decimal(step)


def test_kill_9_mid_burst_loses_and_duplicates_nothing(wallet: httpx.Client, stack: Any) -> None:
    accounts = [_open(wallet, f"user-{index}") for index in range(5)]
    for account in accounts:
        _topup(wallet, account, "1000.00")
    before = _books(wallet)["transfers"]
    rng = random.Random(7)
    keys = [uuid.uuid4().hex for _ in range(300)]
    bodies = {}
    for key in keys:
        source, target = rng.sample(accounts, 2)
        bodies[key] = {"from_account": source, "to_account": target, "amount": "1.00", "currency": "EUR"}
    service = stack.running["wallet"]
    sent = threading.Event()

    def fire() -> None:
        with httpx.Client(base_url=service.url, timeout=5) as client:
            for index, key in enumerate(keys):
                if index == 60:
                    sent.set()
                try:
                    client.post("/v1/transfers", json=bodies[key], headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    return

    sender = threading.Thread(target=fire)
    sender.start()
    assert sent.wait(30)
    service.kill9()
    sender.join(30)
    service.start()
    ids = {}
    with httpx.Client(base_url=service.url, timeout=30) as client:
        for key in keys:
            response = client.post("/v1/transfers", json=bodies[key], headers={"Idempotency-Key": key})
            assert response.status_code == 201, response.text
            ids[key] = response.json()["id"]
    assert len(set(ids.values())) == len(keys)
    verdict = _books(wallet)
    assert verdict["balanced"] is True
    assert verdict["transfers"] == before + len(keys)
    assert sum(_balance(wallet, account) for account in accounts) == Decimal("5000.00")


def _bad_requests(source: str, target: str) -> list[tuple[str, dict[str, str], Any, int, str]]:
    ok = {"from_account": source, "to_account": target, "amount": "1.00", "currency": "EUR"}
    key = {"Idempotency-Key": "bad-input", "content-type": "application/json"}
    return [
        ("/v1/transfers", key, "{not json", 400, "not valid JSON"),
        ("/v1/transfers", key, {**ok, "memo": "x"}, 422, "memo: is not a known field"),
        ("/v1/transfers", key, {**ok, "amount": "0"}, 422, "greater than zero"),
        ("/v1/transfers", key, {**ok, "amount": "-1.00"}, 422, "amount"),
        ("/v1/transfers", key, {**ok, "amount": "1.001"}, 422, "more than 2 decimal places"),
        ("/v1/transfers", key, {**ok, "amount": 1.5}, 422, "decimal strings"),
        ("/v1/transfers", key, {**ok, "currency": "XXX"}, 422, "unsupported currency"),
        ("/v1/transfers", key, {**ok, "to_account": str(uuid.uuid4())}, 422, "does not exist"),
        ("/v1/transfers", key, {**ok, "amount": "999.00"}, 422, "less than 999.00"),
        ("/v1/transfers", {"content-type": "application/json"}, ok, 400, "Idempotency-Key"),
        ("/v1/transfers", {**key, "Idempotency-Key": "k" * 256}, ok, 400, "Idempotency-Key"),
        ("/v1/transfers", {**key, "X-Consumer": "-spoofed!"}, ok, 400, "X-Consumer is invalid"),
        ("/v1/transfers", key, {"x": "y" * 20000}, 413, "exceeds"),
        ("/v1/topups", key, {"account": source, "amount": "1.00", "currency": "USD"}, 422, "holds EUR"),
        ("/v1/accounts", key, {"owner": "", "currency": "EUR"}, 422, "owner"),
    ]


def test_bad_input_gets_a_problem_and_writes_nothing(wallet: httpx.Client, problem: Problem) -> None:
    source, target = _open(wallet), _open(wallet)
    _topup(wallet, source, "5.00")
    before = wallet.get("/v1/ledger/verify").json()
    for path, headers, body, status, words in _bad_requests(source, target):
        content = body if isinstance(body, str) else httpx.Request("POST", "/", json=body).content
        answer = problem(wallet.post(path, content=content, headers=headers), status)
        assert words in answer["detail"], (path, body, answer)
    problem(wallet.get(f"/v1/accounts/{uuid.uuid4()}"), 404)
    assert wallet.get("/v1/ledger/verify").json() == before
    assert _balance(wallet, source, fresh=True) == Decimal("5.00")


def test_a_chunked_oversize_body_gets_413_like_a_declared_one(wallet: httpx.Client, problem: Problem) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"from_account": "'
        for _ in range(40):
            yield b"x" * 500

    headers = {"Idempotency-Key": uuid.uuid4().hex, "content-type": "application/json"}
    assert (
        "exceeds 16384 bytes"
        in problem(wallet.post("/v1/transfers", content=chunks(), headers=headers), 413)["detail"]
    )


def test_long_keys_work_and_replay_on_both_backends(wallet: httpx.Client) -> None:
    source, target = _open(wallet), _open(wallet)
    _topup(wallet, source, "5.00")
    body = {"from_account": source, "to_account": target, "amount": "1.00", "currency": "EUR"}
    key = {"Idempotency-Key": "~" * 255}
    first = wallet.post("/v1/transfers", json=body, headers=key)
    again = wallet.post("/v1/transfers", json=body, headers=key)
    assert (first.status_code, again.status_code, again.headers["Idempotent-Replayed"]) == (201, 201, "true")
    assert again.json() == first.json()


def test_an_expired_key_is_a_new_request(wallet: httpx.Client, stack: Any) -> None:
    source, target = _open(wallet), _open(wallet)
    _topup(wallet, source, "5.00")
    body = {"from_account": source, "to_account": target, "amount": "1.00", "currency": "EUR"}
    key = f"expiring-{uuid.uuid4().hex}"
    first = wallet.post("/v1/transfers", json=body, headers={"Idempotency-Key": key}).json()
    _expire(stack, key)
    second = wallet.post("/v1/transfers", json=body, headers={"Idempotency-Key": key})
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert second.json()["id"] != first["id"]
    assert _balance(wallet, source, fresh=True) == Decimal("3.00")


def _expire(stack: Any, key: str) -> None:
    """Move ``key``'s expiry into the past, in the wallet's own database."""
    url = stack.specs["wallet"].env["WALLETSTUB_DATABASE_URL"]

    async def run() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                moved = await conn.execute(
                    text("UPDATE idempotency_keys SET expires_at = :past WHERE key = :key"),
                    {"past": datetime.now(UTC) - timedelta(seconds=1), "key": key},
                )
                assert moved.rowcount == 1
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.mark.service
def test_transfers_go_on_while_redis_is_down(real_stack: Any, real_servers: Any) -> None:
    with httpx.Client(base_url=real_stack.start("wallet").url, timeout=30) as wallet:
        _redis_outage(wallet, real_servers)


def _redis_outage(wallet: httpx.Client, real_servers: Any) -> None:
    source, target = _open(wallet), _open(wallet)
    _topup(wallet, source, "100.00")
    assert _balance(wallet, source) == Decimal("100.00")
    assert wallet.get(f"/v1/accounts/{source}").headers["X-Cache"] == "hit"
    body = {"from_account": source, "to_account": target, "amount": "1.00", "currency": "EUR"}
    real_servers.redis.stop()
    try:
        for _ in range(10):
            answer = wallet.post("/v1/transfers", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            assert answer.status_code == 201, answer.text
        read = wallet.get(f"/v1/accounts/{source}")
        assert (read.json()["balance"], read.headers["X-Cache"]) == ("90.00", "miss")
        assert wallet.get("/readyz").status_code == 200
    finally:
        real_servers.redis.start()
    deadline = time.monotonic() + 10
    while wallet.get(f"/v1/accounts/{source}").headers["X-Cache"] != "hit" and time.monotonic() < deadline:
        time.sleep(0.3)
    cached = wallet.get(f"/v1/accounts/{source}")
    assert (cached.headers["X-Cache"], cached.json()["balance"]) == ("hit", "90.00")
    assert wallet.get("/v1/ledger/verify").json()["balanced"] is True


def test_operations_endpoints(wallet: httpx.Client) -> None:
    assert wallet.get("/healthz").json()["status"] == "ok"
    assert wallet.get("/readyz").json()["status"] == "ready"
    wallet.get("/v1/ledger/verify")
    metrics = wallet.get("/metrics").text
    assert (
        'http_requests_total{method="GET",route="/v1/ledger/verify",service="wallet",status="200"}' in metrics
    )
    assert "/v1/transfers" in wallet.get("/openapi.json").json()["paths"]


def test_logs_are_ecs_json_with_request_ids(wallet: httpx.Client, stack: Any) -> None:
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    answer = wallet.get("/healthz", headers={"X-Request-Id": request_id, "traceparent": TRACEPARENT})
    assert answer.headers["X-Request-Id"] == request_id
    deadline = time.monotonic() + 10
    access: list[dict[str, Any]] = []
    while not access and time.monotonic() < deadline:
        time.sleep(0.1)
        lines = [
            json.loads(line) for line in stack.running["wallet"].log_path.read_text().splitlines() if line
        ]
        access = [line for line in lines if line.get("http", {}).get("request", {}).get("id") == request_id]
    assert access, "no access log line with the request id"
    assert access[0]["ecs.version"] and access[0]["service"]["name"] == "wallet"
    assert access[0]["trace"]["id"] == TRACEPARENT.split("-")[1]
    assert access[0]["http"]["response"]["status_code"] == 200


def test_openapi_fuzzing_finds_no_server_error(wallet: httpx.Client, fuzz: Callable[..., str]) -> None:
    output = fuzz(str(wallet.base_url).rstrip("/"))
    assert "10 selected" in output


async def _shift_balance(database_url: str, account: str, minor: int) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE accounts SET balance_minor = balance_minor + :minor WHERE id = :account"),
                {"minor": minor, "account": account},
            )
    finally:
        await engine.dispose()


def test_an_imbalance_found_by_verify_is_an_audit_event(wallet: httpx.Client, stack: Any) -> None:
    """The alert rule on ``ledger.imbalance`` needs the wallet to say so when its books disagree."""
    account = _open(wallet)
    assert _topup(wallet, account, "5.00").status_code == 201
    database_url = stack.specs["wallet"].env["WALLETSTUB_DATABASE_URL"]
    asyncio.run(_shift_balance(database_url, account, 1))
    try:
        verdict = _books(wallet)
    finally:
        asyncio.run(_shift_balance(database_url, account, -1))
    assert verdict["balanced"] is False
    assert _books(wallet)["balanced"] is True
    events = [
        line
        for line in map(json.loads, stack.running["wallet"].log_path.read_text().splitlines())
        if line.get("event", {}).get("action") == "ledger.imbalance"
    ]
    assert len(events) == 1, events
    assert events[0]["event"]["outcome"] == "failure"
    assert events[0]["event"]["dataset"] == "walletops.audit"
    assert "differs from the sum of their entries" in events[0]["message"]
