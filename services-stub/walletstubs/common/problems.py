"""RFC 9457 problem details: every 4xx/5xx answer is ``application/problem+json`` naming what is wrong.

Validation messages never echo the rejected input, so a card number or secret sent by mistake does
not come back in the answer or end up in a log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://problems.walletco.example/"


class Problem(Exception):
    """Raise to answer with a problem document (``slug`` becomes the ``type`` URI)."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extensions = extensions


def problem_response(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extensions,
    }
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers) if headers else None
    )


def too_large_body(instance: str, limit: int | None) -> bytes:
    """The 413 problem document for a request body over ``limit`` bytes."""
    return json.dumps(
        {
            "type": TYPE_BASE + "request-body-too-large",
            "title": "Request body too large",
            "status": 413,
            "detail": f"the request body exceeds {limit} bytes",
            "instance": instance,
        }
    ).encode()


HEADER_RULES = {
    "Idempotency-Key": "is required: send a unique key (1-255 printable characters) per operation",
    "X-Consumer": "is invalid: it is set by the gateway (1-64 letters, digits and dashes)",
}


def _field(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        where, parts = parts[0], parts[1:]
        if where == "header" and parts:
            return f"header {parts[0].title()}"
    return ".".join(parts) or "body"


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "missing":
        return "is required"
    if kind == "string_type":
        return 'must be a JSON string (amounts are decimal strings such as "12.34", never numbers)'
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def validation_problem(request: Request, errors: Sequence[Any]) -> JSONResponse:
    """Map FastAPI/pydantic errors to one problem: malformed JSON 400, missing header 400, else 422."""
    items = [dict(error) for error in errors]
    if any(item.get("type") == "json_invalid" for item in items):
        return problem_response(
            request, 400, "malformed-json", "Malformed JSON body", "the request body is not valid JSON"
        )
    headers = [item for item in items if item.get("loc", ("",))[0] == "header"]
    if headers:
        names = sorted({_field(item["loc"]).removeprefix("header ") for item in headers})
        detail = "; ".join(
            f"header {name} {HEADER_RULES.get(name, 'is missing or invalid')}" for name in names
        )
        return problem_response(request, 400, "missing-header", "Required header missing or invalid", detail)
    fields = [{"field": _field(item.get("loc", ())), "message": _message(item)} for item in items]
    detail = "; ".join(f"{item['field']}: {item['message']}" for item in fields)
    return problem_response(request, 422, "invalid-request", "Invalid request", detail, errors=fields)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.slug, exc.title, exc.detail, headers=exc.headers, **exc.extensions
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(request, exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
        title = titles.get(exc.status_code, "Request failed")
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.method} {request.url.path}"
        if exc.status_code == 413:
            detail = f"the request body exceeds {getattr(request.app, 'max_body_size', None)} bytes"
        slug = title.lower().replace(" ", "-")
        return problem_response(request, exc.status_code, slug, title, detail, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        import logging

        logging.getLogger("walletstubs").exception("unhandled error", exc_info=exc)
        return problem_response(
            request, 500, "internal-error", "Internal error", "the request failed; nothing was written"
        )
