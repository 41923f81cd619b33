"""The FastAPI application shell every stub service shares: health, readiness, metrics, errors, logs.

A service builds its routers and a lifespan, then calls :func:`create_app` and :func:`serve`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from walletstubs.common import problems
from walletstubs.common.settings import ServiceSettings
from walletstubs.common.telemetry import TelemetryMiddleware, configure_logging

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


def create_app(
    *,
    title: str,
    description: str,
    service: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    ready: Callable[[FastAPI], Awaitable[None]],
) -> FastAPI:
    """An app with ``/healthz``, ``/readyz`` (runs ``ready``), ``/metrics``, problem+json errors and
    the telemetry middleware."""
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    problems.install(app)
    app.add_middleware(TelemetryMiddleware, service=service, max_body_bytes=MAX_BODY_BYTES)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: database and cache reachable",
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
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

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


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run ``app`` with uvicorn on the configured loopback address, logging ECS JSON."""
    configure_logging(settings.service, settings.log_level)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
