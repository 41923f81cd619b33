"""The FastAPI application shell every stub service shares: health, readiness, metrics, errors, logs.

A service builds its routers and a lifespan in a factory that reads its settings from the
environment, and :func:`serve` runs that factory in ``settings.workers`` uvicorn processes (uvloop,
httptools). The body limit is the framework's own (``FastAPI(max_body_size=...)``): 413 problem for
declared and chunked bodies alike. With several workers, metrics are aggregated across them through
``PROMETHEUS_MULTIPROC_DIR`` (set by the topology).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import elasticapm
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from walletstubs.common import apm, problems
from walletstubs.common.metrics import sample_forever, set_service
from walletstubs.common.settings import PREFIX, ServiceSettings
from walletstubs.common.telemetry import Identity, TelemetryMiddleware, configure_logging
from walletstubs.common.tls import ServerTls, server_context

MAX_BODY_BYTES = 16384
ReadyCheck = Callable[[], Awaitable[None]]
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": title,
        "content": {problems.PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, title in {
        400: "Malformed request",
        404: "Not found",
        409: "Conflict",
        413: "Body too large",
        422: "Invalid request",
    }.items()
}


class _ServiceApp(FastAPI):
    """FastAPI with one outermost layer: the framework enforces the body limit itself (declared and
    chunked bodies), but answers a declared oversize body in plain text before any handler runs; that
    413 is re-rendered here as the problem document every other error is."""

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        limit = self.max_body_size

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            replacing = False

            async def send_problem(message: Message) -> None:
                nonlocal replacing
                if message["type"] == "http.response.start" and message["status"] == 413:
                    content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                    replacing = not content_type.startswith(problems.PROBLEM_JSON.encode())
                    if replacing:
                        body = problems.too_large_body(scope.get("path", ""), limit)
                        message = {
                            "type": "http.response.start",
                            "status": 413,
                            "headers": [
                                (b"content-type", problems.PROBLEM_JSON.encode()),
                                (b"content-length", str(len(body)).encode()),
                            ],
                        }
                        await send(message)
                        await send({"type": "http.response.body", "body": body})
                        return
                if replacing:
                    return
                await send(message)

            await inner(scope, receive, send_problem)

        return app


def create_app(
    *,
    title: str,
    description: str,
    service: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    ready: Callable[[FastAPI], Awaitable[None]],
) -> FastAPI:
    """An app with ``/healthz``, ``/readyz`` (runs ``ready``: the database, never the cache, which is
    optional), ``/metrics``, problem+json errors, the framework's body limit, the telemetry middleware
    and, when this process runs the APM agent, its middleware outside everything else.

    The metric samplers a service's ``lifespan`` puts in ``app.state.samplers`` run while it serves."""

    @asynccontextmanager
    async def lifespan_with_samplers(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            samplers = getattr(app.state, "samplers", [])
            task = asyncio.create_task(sample_forever(samplers)) if samplers else None
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task

    set_service(service)
    app = _ServiceApp(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan_with_samplers,
        max_body_size=MAX_BODY_BYTES,
    )
    problems.install(app)
    app.add_middleware(TelemetryMiddleware, service=service)
    client = elasticapm.get_client()
    if client is not None:
        app.add_middleware(apm.ApmMiddleware, client=client)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: database reachable (the cache is optional)",
        responses={503: PROBLEM_RESPONSES[422] | {"description": "Not ready"}},
    )
    async def readyz(request: Request) -> Response:
        try:
            await ready(request.app)
        except Exception as exc:
            return problems.problem_response(
                request, 503, "not-ready", "Not ready", f"dependency check failed: {type(exc).__name__}"
            )
        return JSONResponse({"status": "ready", "service": service})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        registry = REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original_openapi()
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = {
                "type": "object",
                "required": ["type", "title", "status", "detail", "instance"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "instance": {"type": "string"},
                },
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory each worker process runs: the ``build_app`` named by ``WALLETSTUB_APP``
    (``module:function``), given the settings read from the environment. :func:`serve` hands both
    names to its workers itself; they are not part of the service's configuration."""
    module, _, function = os.environ[PREFIX + "APP"].partition(":")
    settings = ServiceSettings.from_env(os.environ[PREFIX + "APP_SERVICE"])
    identity = Identity(settings.service, settings.version, settings.environment)
    configure_logging(identity, settings.log_level)
    apm.make_client(identity)
    build: Callable[[ServiceSettings], FastAPI] = getattr(importlib.import_module(module), function)
    return build(settings)


def serve(build: str, service: str) -> None:
    """Run ``build`` (``module:function`` taking :class:`ServiceSettings`) with uvicorn on the configured
    address, in ``WALLETSTUB_WORKERS`` processes (uvloop, httptools), logging ECS JSON; over TLS when
    ``WALLETSTUB_TLS_CERT_FILE``/``_KEY_FILE`` are set (:mod:`walletstubs.common.tls`)."""
    settings = ServiceSettings.from_env(service)
    configure_logging(Identity(settings.service, settings.version, settings.environment), settings.log_level)
    os.environ[PREFIX + "APP"] = build
    os.environ[PREFIX + "APP_SERVICE"] = service
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        folder = Path(metrics_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    tls = ServerTls.from_env()
    uvicorn.run(
        "walletstubs.common.service:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=tls.cert_file if tls else None,
        ssl_keyfile=tls.key_file if tls else None,
        ssl_context_factory=server_context if tls else None,
    )
