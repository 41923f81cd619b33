"""ECS JSON logs, request/trace ids and Prometheus metrics, for every service.

Each request gets an ``X-Request-Id`` (kept from the caller when sane) and a trace id (from a W3C
``traceparent`` header, else new); both are on every log line of that request as ``http.request.id``
and ``trace.id``. Bodies and headers are never logged, and anything shaped like a card number is
masked in log messages as a last line of defence.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import ecs_logging
from prometheus_client import Counter, Histogram

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
TRACE_ID: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")
_PAN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")

REQUESTS = Counter("http_requests_total", "HTTP requests served", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def mask_card_numbers(text: str) -> str:
    """Replace every 13-19 digit run (spaces/dashes allowed) with a mask."""
    return _PAN.sub("[masked-pan]", text)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        setattr(record, "service.name", self.service)
        if REQUEST_ID.get():
            setattr(record, "http.request.id", REQUEST_ID.get())
            setattr(record, "trace.id", TRACE_ID.get())
        record.__dict__.pop("color_message", None)
        record.msg = mask_card_numbers(record.getMessage())
        record.args = None
        return True


def configure_logging(service: str, level: str) -> None:
    """ECS JSON lines on stdout for our loggers and uvicorn's; the access log is ours (see middleware)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(ecs_logging.StdlibFormatter(exclude_fields=["process", "log.original"]))
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("httpx", "httpcore", "sqlalchemy", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class TelemetryMiddleware:
    """Request ids, access log and metrics (the body limit is the framework's, see ``common.service``)."""

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
        TRACE_ID.set(trace.group(1) if trace else uuid.uuid4().hex)
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
            self.log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "http.request.method": scope["method"],
                    "url.path": scope["path"],
                    "http.response.status_code": status,
                    "event.duration": int(elapsed * 1e9),
                },
            )
