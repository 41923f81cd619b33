"""ECS JSON logs, trace context and the access log, for every service.

Every line is one ECS document on stdout: ``service.name/version/environment``, ``event.dataset``
(``walletops.service`` for ordinary logs, ``walletops.audit`` for :func:`audit` events,
``walletops.access`` for the access log) with the matching ``data_stream.*`` (the namespace is the
environment), and inside a request or a background pass ``trace.id``, ``transaction.id`` and
``span.id``. With APM on (see :mod:`walletstubs.common.apm`) the ids are the agent's, so a log line
and its trace find each other; without it they come from the caller's W3C ``traceparent`` (else new).
Every string of every line is masked (:mod:`walletstubs.common.masking`) before it leaves the process.
Outbound calls carry ``traceparent`` (:func:`traced_client`). Bodies and headers are never logged.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ecs_logging
import elasticapm
import httpx
from prometheus_client import Counter, Histogram

from walletstubs.common.masking import mask_document

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SERVICE_DATASET = "walletops.service"
AUDIT_DATASET = "walletops.audit"
ACCESS_DATASET = "walletops.access"

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
TRACE_ID: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")
TRANSACTION_ID: contextvars.ContextVar[str] = contextvars.ContextVar("transaction_id", default="")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")

REQUESTS = Counter("http_requests_total", "HTTP requests served", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
audit_log = logging.getLogger("walletops.audit")
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
"""A log record's own attributes (and uvicorn's coloured copy of the message): not extra fields."""
_GENERATED = frozenset(
    {"@timestamp", "ecs.version", "log", "service", "trace", "span", "transaction", "data_stream"}
)
"""Top-level fields whose every value this code makes (times, ids, logger, identity): nothing to mask."""


@dataclass(frozen=True)
class Identity:
    """Who writes the logs: ``service.name``, ``service.version``, ``service.environment``."""

    name: str
    version: str
    environment: str


def trace_ids() -> tuple[str, str, str] | None:
    """(trace id, transaction id, span id) of the current request or background pass, if any: the APM
    agent's when it traces this one, else the ids this module keeps."""
    transaction = elasticapm.get_transaction_id()
    if transaction:
        trace = elasticapm.get_trace_id() or ""
        return trace, transaction, elasticapm.get_span_id() or transaction
    trace = TRACE_ID.get()
    if not trace:
        return None
    return trace, TRANSACTION_ID.get(), TRANSACTION_ID.get()


def traceparent() -> str | None:
    """The W3C ``traceparent`` for a call made now (parent: the current span), or None outside a trace."""
    ids = trace_ids()
    if ids is None:
        return None
    trace, _, span = ids
    return f"00-{trace}-{span}-01"


class EcsFormatter(logging.Formatter):
    """One ECS document per record, in ecs-logging's shape (``@timestamp``, ``log.level``, ``message``,
    ``ecs.version`` first; ``log.logger``, ``log.origin``, ``error.*``; extras by their dotted names),
    plus the service identity, dataset, data stream and trace ids; masked.

    Built directly rather than through ``ecs_logging.StdlibFormatter``'s generic merging, which
    costs twice as much per line: every request writes one."""

    def __init__(self, identity: Identity) -> None:
        super().__init__()
        self.identity = identity

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.format_to_ecs(record), separators=(",", ":"), default=str)

    def format_to_ecs(self, record: logging.LogRecord) -> dict[str, Any]:
        created = datetime.fromtimestamp(record.created, UTC)
        document: dict[str, Any] = {
            "@timestamp": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "log.level": record.levelname.lower(),
            "message": record.getMessage(),
            "ecs.version": ecs_logging.ECS_VERSION,
            "log": {
                "logger": record.name,
                "origin": {
                    "file": {"name": record.filename, "line": record.lineno},
                    "function": record.funcName,
                },
            },
        }
        if record.exc_info and record.exc_info[0] is not None:
            error_type, error, trace = record.exc_info
            document["error"] = {
                "type": error_type.__name__,
                "message": str(error),
                "stack_trace": "".join(traceback.format_tb(trace)),
            }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS:
                _put(document, key, value)
        document["service"] = {
            "name": self.identity.name,
            "version": self.identity.version,
            "environment": self.identity.environment,
        }
        event = document.setdefault("event", {})
        dataset = event.setdefault("dataset", SERVICE_DATASET)
        document["data_stream"] = {"type": "logs", "dataset": dataset, "namespace": self.identity.environment}
        ids = trace_ids()
        if ids is not None:
            document["trace"] = {"id": ids[0]}
            document["transaction"] = {"id": ids[1]}
            document["span"] = {"id": ids[2]}
        if REQUEST_ID.get():
            document.setdefault("http", {}).setdefault("request", {}).setdefault("id", REQUEST_ID.get())
        return {key: value if key in _GENERATED else mask_document(value) for key, value in document.items()}


def _put(document: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``document[a][b]…`` for ``a.b…``; a dict value is merged into what is there."""
    *parents, leaf = dotted.split(".")
    node = document
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    current = node.get(leaf)
    if isinstance(value, dict) and isinstance(current, dict):
        for key, item in value.items():
            _put(current, key, item)
    else:
        node[leaf] = value


def configure_logging(identity: Identity, level: str) -> None:
    """ECS JSON lines on stdout for our loggers and uvicorn's; the access log is ours (see middleware)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(EcsFormatter(identity))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in (
        "httpx",
        "httpcore",
        "sqlalchemy",
        "aiosqlite",
        "asyncio",
        "elasticapm",
        "alembic.runtime.plugins",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def audit(action: str, message: str, *args: object, outcome: str = "success", **labels: object) -> None:
    """One audit event (``walletops.audit``): ``action`` names what happened (``ledger.posted``,
    ``idempotency.replayed``, ``order.placing``, ``sweep.ordered`` …); ``labels`` are its ids, as strings."""
    audit_log.info(
        message,
        *args,
        extra={
            "event.dataset": AUDIT_DATASET,
            "event.kind": "event",
            "event.action": action,
            "event.outcome": outcome,
            "labels": {key: str(value) for key, value in labels.items()},
        },
    )


@contextmanager
def background_trace(name: str) -> Iterator[None]:
    """A trace of its own for background work (a relay pass): ids for its log lines, ``traceparent``
    for its calls, and an APM transaction of type ``background`` when the agent runs."""
    trace = TRACE_ID.set(secrets.token_hex(16))
    transaction = TRANSACTION_ID.set(secrets.token_hex(8))
    client = elasticapm.get_client()
    if client is not None:
        client.begin_transaction("background")
        elasticapm.set_transaction_name(name)
    try:
        yield
    except BaseException:
        if client is not None:
            client.capture_exception(handled=False)
            client.end_transaction(result="failure")
        raise
    else:
        if client is not None:
            client.end_transaction(result="success")
    finally:
        TRACE_ID.reset(trace)
        TRANSACTION_ID.reset(transaction)


async def _propagate(request: httpx.Request) -> None:
    if "traceparent" not in request.headers:
        parent = traceparent()
        if parent is not None:
            request.headers["traceparent"] = parent
    if REQUEST_ID.get() and "x-request-id" not in request.headers:
        request.headers["x-request-id"] = REQUEST_ID.get()


def traced_client(**kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every request carries the current ``traceparent`` and request id
    (the APM agent, when on, sets its own ``traceparent`` for the call's span first)."""
    return httpx.AsyncClient(event_hooks={"request": [_propagate]}, **kwargs)


def continue_trace(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """For a proxy (the in-process gateway): make the current context a span of the caller's trace
    (or of a new one) and return ``headers`` with a ``traceparent`` naming that span, to pass on."""
    sent = next((value.decode("latin-1") for key, value in headers if key.lower() == b"traceparent"), "")
    trace = _TRACEPARENT.match(sent)
    TRACE_ID.set(trace.group(1) if trace else secrets.token_hex(16))
    TRANSACTION_ID.set(secrets.token_hex(8))
    kept = [(key, value) for key, value in headers if key.lower() != b"traceparent"]
    return [*kept, (b"traceparent", f"00-{TRACE_ID.get()}-{TRANSACTION_ID.get()}-01".encode())]


class TelemetryMiddleware:
    """Request and trace ids, the access log (``walletops.access``) and request metrics."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service
        self.log = logging.getLogger("walletstubs.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        request_id = headers.get("x-request-id", "")
        if not _SAFE_ID.match(request_id):
            request_id = uuid.uuid4().hex
        trace = _TRACEPARENT.match(headers.get("traceparent", ""))
        REQUEST_ID.set(request_id)
        TRACE_ID.set(trace.group(1) if trace else secrets.token_hex(16))
        TRANSACTION_ID.set(secrets.token_hex(8))
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            REQUESTS.labels(self.service, scope["method"], route, str(status)).inc()
            LATENCY.labels(self.service, scope["method"], route).observe(elapsed)
            query = scope.get("query_string", b"").decode("latin-1")
            self.log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "event.dataset": ACCESS_DATASET,
                    "event.kind": "event",
                    "event.category": ["web"],
                    "event.outcome": "failure" if status >= 500 else "success",
                    "event.duration": int(elapsed * 1e9),
                    "http.request.method": scope["method"],
                    "http.response.status_code": status,
                    "http.version": scope.get("http_version", "1.1"),
                    "url.path": scope["path"],
                    **({"url.query": query} if query else {}),
                    "user_agent.original": headers.get("user-agent", ""),
                    "labels": {"route": route},
                },
            )
