"""Logs: ECS JSON with the service's identity, datasets, data streams and trace ids; every field an
ECS field (checked against the ECS reference, on the lines real services write); sensitive values
masked in every field; the caller's ``traceparent`` carried across real service-to-service calls."""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from ecs_fields import FIELDS, REFERENCE, flatten, log_lines, problems
from walletstubs.common.telemetry import (
    AUDIT_DATASET,
    TRACE_ID,
    TRANSACTION_ID,
    Identity,
    audit,
    background_trace,
    configure_logging,
    continue_trace,
    traced_client,
)

pytestmark = pytest.mark.xdist_group("walletstubs")
CASES = yaml.safe_load((Path(__file__).resolve().parents[1] / "data" / "masking_cases.yaml").read_text())[
    "cases"
]
SENSITIVE = [case for case in CASES if case["input"] != case["masked"]]
CARD = "4111111111111111"
ORDERS = "/v1/exchanges/testex/orders"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The process's logging configured as a service's, writing to a string."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging(Identity("unit", "9.9.9", "qa"), "INFO")
    stream = io.StringIO()
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    yield stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_reference_is_the_pinned_ecs_release() -> None:
    assert REFERENCE["source"] == "https://github.com/elastic/ecs" and REFERENCE["tag"].startswith("v8.")
    assert len(REFERENCE["commit"]) == 40 and len(FIELDS) > 1500
    assert FIELDS["trace.id"] == "keyword" and FIELDS["http.response.status_code"] == "long"
    assert "http.request.headers" not in FIELDS, "ECS has no header fields: headers are never logged"


@pytest.mark.parametrize("case", SENSITIVE, ids=[case["name"] for case in SENSITIVE])
def test_every_field_of_a_line_is_masked_before_it_leaves(
    captured: io.StringIO, case: dict[str, str]
) -> None:
    try:
        raise ValueError(f"refused {case['input']}")
    except ValueError:
        logging.getLogger("walletstubs.test").exception(
            "could not handle %s",
            case["input"],
            extra={
                "url.path": case["input"],
                "url.query": case["input"],
                "labels": {"detail": case["input"]},
            },
        )
    [line] = _lines(captured)
    assert line["message"] == f"could not handle {case['masked']}"
    assert line["url"]["path"] == line["url"]["query"] == line["labels"]["detail"] == case["masked"]
    assert line["error"]["message"] == f"refused {case['masked']}"
    assert case["input"] not in captured.getvalue()


def test_lines_carry_identity_dataset_stream_and_trace(captured: io.StringIO) -> None:
    logging.getLogger("walletstubs.test").info("outside any request")
    with background_trace("unit pass"):
        trace, transaction = TRACE_ID.get(), TRANSACTION_ID.get()
        audit("ledger.posted", "transfer %s posted", "t-1", transfer="t-1", amount_minor=250)
    plain, event = _lines(captured)
    assert plain["service"] == {"name": "unit", "version": "9.9.9", "environment": "qa"}
    assert plain["event"]["dataset"] == "walletops.service" and "trace" not in plain
    assert plain["data_stream"] == {"type": "logs", "dataset": "walletops.service", "namespace": "qa"}
    assert event["event"] == {
        "dataset": AUDIT_DATASET,
        "kind": "event",
        "action": "ledger.posted",
        "outcome": "success",
    }
    assert event["labels"] == {"transfer": "t-1", "amount_minor": "250"}
    assert event["trace"]["id"] == trace and event["transaction"]["id"] == transaction
    assert event["data_stream"]["dataset"] == AUDIT_DATASET
    assert problems(plain) == [] and problems(event) == []


def test_outbound_calls_carry_the_current_traceparent() -> None:
    seen: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(204)

    async def calls() -> str:
        async with traced_client(transport=httpx.MockTransport(answer), base_url="http://peer") as client:
            await client.get("/outside")
            with background_trace("unit pass"):
                await client.get("/inside")
                return f"00-{TRACE_ID.get()}-{TRANSACTION_ID.get()}-01"

    expected = asyncio.run(calls())
    assert "traceparent" not in seen[0]
    assert seen[1]["traceparent"] == expected


@pytest.fixture(scope="module")
def traffic(stack: Any) -> dict[str, Any]:
    """Every service of the stack serving a little of everything (and a card number in a URL); the
    trace id the order was sent with."""
    stack.start("wallet")
    stack.start("simexchange-testex")
    stack.start("exchange-testex", WALLETSTUB_RELAY_INTERVAL_MS="200")
    stack.start("roundups", WALLETSTUB_RELAY_INTERVAL_MS="200")
    trace = secrets.token_hex(16)
    with (
        httpx.Client(base_url=stack.running["wallet"].url, timeout=30) as wallet,
        httpx.Client(base_url=stack.running["exchange-testex"].url, timeout=30) as adapter,
        httpx.Client(base_url=stack.running["roundups"].url, timeout=30) as roundups,
    ):
        account = wallet.post("/v1/accounts", json={"owner": "telemetry", "currency": "EUR"}).json()["id"]
        topup = {"account": account, "amount": "100.00", "currency": "EUR"}
        key = {"Idempotency-Key": uuid.uuid4().hex}
        assert wallet.post("/v1/topups", json=topup, headers=key).status_code == 201
        assert wallet.post("/v1/topups", json=topup, headers=key).status_code == 201
        assert wallet.get(f"/v1/accounts/{account}").status_code == 200
        assert wallet.get(f"/v1/accounts/{account}").status_code == 200
        assert (
            wallet.get(f"/v1/cards/{CARD}?api_key=0123456789abcdef&email=ops@example.com").status_code == 404
        )
        body = {"account": account, "symbol": "BTC", "side": "buy", "amount": "10.00", "currency": "EUR"}
        order = adapter.post(
            ORDERS,
            json=body,
            headers={
                "Idempotency-Key": uuid.uuid4().hex,
                "traceparent": f"00-{trace}-{secrets.token_hex(8)}-01",
            },
        )
        assert order.status_code in (201, 202), order.text
        assert adapter.get("/v1/exchanges/testex/quotes/BTC").status_code == 200
        settings = {"exchange": "testex", "symbol": "BTC", "currency": "EUR", "threshold": "1.00"}
        assert roundups.put(f"/v1/roundups/accounts/{account}/settings", json=settings).status_code == 200
        for _ in range(2):
            purchase = {
                "account": account,
                "amount": "2.10",
                "currency": "EUR",
                "merchant": "Bakery",
                "card_last4": "4242",
            }
            answer = roundups.post(
                "/v1/roundups/purchases", json=purchase, headers={"Idempotency-Key": uuid.uuid4().hex}
            )
            assert answer.status_code == 201, answer.text
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sweeps = roundups.get(f"/v1/roundups/accounts/{account}").json()["sweeps"]
            if sweeps and sweeps[0]["status"] in ("placed", "rejected"):
                break
            time.sleep(0.3)
    return {"trace": trace, "logs": {name: service.log_path for name, service in stack.running.items()}}


def test_every_field_the_services_write_is_an_ecs_field(traffic: dict[str, Any]) -> None:
    datasets: set[str] = set()
    for name, path in traffic["logs"].items():
        for line in log_lines(path):
            assert problems(line) == [], f"{name}: {line}"
            datasets.add(line["event"]["dataset"])
            names = set(flatten(line))
            if line["event"]["dataset"] == "walletops.access":
                assert {"http.request.method", "http.response.status_code", "url.path", "trace.id"} <= names
                assert {"transaction.id", "span.id", "http.request.id", "event.duration"} <= names
    assert datasets == {"walletops.service", "walletops.audit", "walletops.access"}


def test_no_sensitive_value_reaches_a_log_file(traffic: dict[str, Any]) -> None:
    text = traffic["logs"]["wallet"].read_text()
    assert "/v1/cards/[masked-pan]" in text and "api_key=[masked-key]" in text and "[masked-email]" in text
    for secret in (CARD, "0123456789abcdef", "ops@example.com"):
        for path in traffic["logs"].values():
            assert secret not in path.read_text(), f"{secret} in {path}"


def test_audit_events_name_postings_replays_and_orders(traffic: dict[str, Any]) -> None:
    actions = {
        (name, line["event"]["action"])
        for name, path in traffic["logs"].items()
        for line in log_lines(path)
        if line["event"]["dataset"] == AUDIT_DATASET
    }
    assert {("wallet", "ledger.posted"), ("wallet", "idempotency.replayed")} <= actions
    assert {("exchange-testex", "order.debiting"), ("exchange-testex", "order.placing")} <= actions
    assert {("roundups", "sweep.pending"), ("roundups", "sweep.placed")} <= actions


def test_the_callers_trace_crosses_exchange_to_wallet_and_simexchange(traffic: dict[str, Any]) -> None:
    for name in ("exchange-testex", "wallet", "simexchange-testex"):
        traced = [
            line
            for line in log_lines(traffic["logs"][name])
            if line.get("trace", {}).get("id") == traffic["trace"]
        ]
        assert traced, f"{name} never logged the caller's trace id"
        assert any(line["event"]["dataset"] == "walletops.access" for line in traced), name


def test_a_proxy_continues_the_callers_trace_or_starts_one() -> None:
    contextvars.copy_context().run(_proxy_continues_the_trace)


def _proxy_continues_the_trace() -> None:
    caller = secrets.token_hex(16)
    sent = continue_trace([(b"traceparent", f"00-{caller}-{'a' * 16}-01".encode()), (b"tracestate", b"v=1")])
    assert dict(sent)[b"tracestate"] == b"v=1"
    assert dict(sent)[b"traceparent"].decode() == f"00-{caller}-{TRANSACTION_ID.get()}-01"
    assert TRACE_ID.get() == caller
    fresh = dict(continue_trace([(b"host", b"x")]))[b"traceparent"].decode()
    assert fresh == f"00-{TRACE_ID.get()}-{TRANSACTION_ID.get()}-01" and TRACE_ID.get() != caller
