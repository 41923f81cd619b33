"""The in-process gateway (embedded stack) enforces the effective rules: same answers as nginx."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import types
from collections.abc import Iterator
from datetime import date

import httpx
import limits.storage.memory
import pytest
import uvicorn
from walletstubs.gateway import problems
from walletstubs.gateway.app import DailyQuota, Gateway, GatewaySettings
from walletstubs.gateway.jwt import TokenVerifier
from walletstubs.localstack.servers import free_port

from contracts.gateway_rules import EffectiveRules


@pytest.fixture
def frozen_limits_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop the limits' clock so a slow, loaded machine cannot let the window slide mid-test."""
    now = time.time()
    monkeypatch.setattr(limits.storage.memory, "time", types.SimpleNamespace(time=lambda: now))


def _gateway(rules: EffectiveRules, keys: dict[str, str], upstream_url: str, **kwargs: object) -> Gateway:
    """A gateway over ``rules``; without a token verifier, end-user auth is switched off so a test of
    limits or quotas exercises only those (the parity table covers the tokens)."""
    upstreams = {service: upstream_url for service in rules.routed_services()}
    if "verifier" not in kwargs:
        rules = dataclasses.replace(
            rules, routes=tuple(dataclasses.replace(route, end_users=False) for route in rules.routes)
        )
    return Gateway(rules, keys=keys, upstreams=upstreams, **kwargs)  # type: ignore[arg-type]


def _client(gateway: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway")


@pytest.fixture(scope="module")
def gateway_port(rules, keys, upstream, tokens) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """The in-process gateway served by uvicorn on a free loopback port (raw targets reach it as sent)."""
    verifier = TokenVerifier(tokens.jwks, issuer=tokens.issuer, clients=[c.name for c in rules.consumers])
    gateway = _gateway(rules, keys, upstream.url, verifier=verifier)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(gateway, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the in-process gateway did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def test_contract(case, gateway_port, ask, verdict) -> None:  # type: ignore[no-untyped-def]
    verdict(case, ask(gateway_port, case))


async def _burst(client: httpx.AsyncClient, key: str, path: str, count: int) -> list[httpx.Response]:
    return list(await asyncio.gather(*(client.get(path, headers={"X-Api-Key": key}) for _ in range(count))))


@pytest.mark.usefixtures("frozen_limits_clock")
@pytest.mark.parametrize("consumer", ["operator", "partner-api"])
def test_burst_of_the_spec_is_admitted_then_429_with_retry_after(consumer, rules, keys, upstream) -> None:  # type: ignore[no-untyped-def]
    burst = rules.consumer(consumer).burst

    async def run() -> tuple[list[httpx.Response], httpx.Response]:
        gateway = _gateway(rules, keys, upstream.url)
        async with _client(gateway) as client:
            admitted = await _burst(client, keys[consumer], "/v1/accounts/a", burst + 1)
            refused = await client.get("/v1/accounts/a", headers={"X-Api-Key": keys[consumer]})
        await gateway.aclose()
        return admitted, refused

    admitted, refused = asyncio.run(run())
    assert [r.status_code for r in admitted] == [200] * (burst + 1)
    assert refused.status_code == 429
    assert refused.content == problems.RATE_LIMITED.body()
    assert int(refused.headers["retry-after"]) >= 1


@pytest.mark.usefixtures("frozen_limits_clock")
def test_limits_are_per_consumer_and_refusals_are_not_counted(rules, keys, upstream) -> None:  # type: ignore[no-untyped-def]
    operator_burst = rules.consumer("operator").burst

    async def run() -> tuple[list[int], list[int], int]:
        gateway = _gateway(rules, keys, upstream.url)
        async with _client(gateway) as client:
            keyless = [(await client.get("/v1/accounts/a")).status_code for _ in range(operator_burst * 2)]
            operator = [r.status_code for r in await _burst(client, keys["operator"], "/v1/accounts/a", 40)]
            other = (
                await client.get("/v1/accounts/a", headers={"X-Api-Key": keys["mobile-app"]})
            ).status_code
        await gateway.aclose()
        return keyless, operator, other

    keyless, operator, other = asyncio.run(run())
    assert set(keyless) == {401}
    assert operator.count(200) == operator_burst + 1
    assert operator.count(429) == 40 - (operator_burst + 1)
    assert other == 200


def test_daily_quota_refuses_until_the_next_utc_day(rules, keys, upstream) -> None:  # type: ignore[no-untyped-def]
    small = dataclasses.replace(
        rules,
        consumers=tuple(
            dataclasses.replace(c, quota_per_day=3) if c.name == "mobile-app" else c for c in rules.consumers
        ),
    )
    day = {"today": date(2026, 11, 25)}
    quota = DailyQuota(today=lambda: day["today"])

    async def run() -> list[httpx.Response]:
        gateway = _gateway(small, keys, upstream.url, quota=quota)
        responses = []
        async with _client(gateway) as client:
            for _ in range(4):
                responses.append(
                    await client.get("/v1/accounts/a", headers={"X-Api-Key": keys["mobile-app"]})
                )
            day["today"] = date(2026, 11, 26)
            responses.append(await client.get("/v1/accounts/a", headers={"X-Api-Key": keys["mobile-app"]}))
        await gateway.aclose()
        return responses

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 200]
    assert responses[3].content == problems.QUOTA_EXCEEDED.body()
    assert 1 <= int(responses[3].headers["retry-after"]) <= 86400


def test_unreachable_upstream_is_a_502_problem(rules, keys) -> None:  # type: ignore[no-untyped-def]
    from walletstubs.localstack.servers import free_port

    async def run() -> httpx.Response:
        gateway = _gateway(rules, keys, f"http://127.0.0.1:{free_port()}")
        async with _client(gateway) as client:
            response = await client.get("/v1/accounts/a", headers={"X-Api-Key": keys["mobile-app"]})
        await gateway.aclose()
        return response

    response = asyncio.run(run())
    assert response.status_code == 502
    assert response.headers["content-type"] == problems.PROBLEM_CONTENT_TYPE


def test_every_consumer_needs_a_key_and_every_service_an_upstream(rules, keys) -> None:  # type: ignore[no-untyped-def]
    upstreams = {s: "http://127.0.0.1:1" for s in rules.routed_services()}
    with pytest.raises(ValueError, match="token verifier"):
        Gateway(rules, keys=keys, upstreams=upstreams)
    partial = {name: key for name, key in keys.items() if name != "loadtest"}
    with pytest.raises(ValueError, match="loadtest"):
        Gateway(rules, keys=partial, upstreams={s: "http://127.0.0.1:1" for s in rules.routed_services()})
    with pytest.raises(ValueError, match="wallet"):
        Gateway(rules, keys=keys, upstreams={})


def test_settings_round_trip_through_json(rules, keys, tokens) -> None:  # type: ignore[no-untyped-def]
    settings = GatewaySettings(
        rules=rules,
        keys=keys,
        upstreams={"wallet": "http://127.0.0.1:9"},
        port=8080,
        jwks=tokens.jwks,
        issuer=tokens.issuer,
    )
    text = settings.to_json()
    assert GatewaySettings.from_json(text) == settings
    assert json.loads(text)["rules"]["max_body_bytes"] == rules.max_body_bytes
