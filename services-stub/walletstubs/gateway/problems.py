"""The gateway's refusals, shared by the nginx rendering and the in-process gateway.

Every refusal is an RFC 9457 ``application/problem+json`` body. nginx cannot build bodies at run time,
so each refusal has a fixed body; the in-process gateway sends exactly the same bytes, which lets the
tests compare both gateways response by response.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

PROBLEM_TYPE_BASE = "https://walletops.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"
RATE_LIMIT_RETRY_AFTER_SECONDS = 1
"""Retry-After for rate-limit refusals: a leaky bucket of >= 1 request/s frees a slot within a second."""


@dataclass(frozen=True)
class Refusal:
    """One kind of gateway refusal: its status, problem slug and fixed human-readable text."""

    status: int
    slug: str
    title: str
    detail: str

    def body(self) -> bytes:
        """The problem+json body, compact and with a stable key order."""
        document = {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        return json.dumps(document, separators=(",", ":")).encode()


NON_CANONICAL = Refusal(
    400,
    "non-canonical-path",
    "Ambiguous path",
    "The path contains encoded dots, slashes or backslashes, or empty or dot segments.",
)
UNAUTHENTICATED = Refusal(
    401,
    "end-user-unauthenticated",
    "Missing or invalid end-user token",
    "Send the end user access token as Authorization: Bearer; it must be valid and carry the API scope.",
)
BLOCKED = Refusal(403, "blocked-request", "Request blocked", "The request matches a blocked pattern.")
UNAUTHORIZED = Refusal(
    401, "unauthorized", "Missing or invalid API key", "Send a valid API key in the X-Api-Key header."
)
NOT_FOUND = Refusal(404, "no-route", "No such route", "No gateway route serves this path.")
FORBIDDEN = Refusal(403, "forbidden-scope", "Route not allowed", "This API key may not call this route.")
METHOD_NOT_ALLOWED = Refusal(
    405, "method-not-allowed", "Method not allowed", "This route does not accept this method."
)
TOO_LARGE = Refusal(
    413, "body-too-large", "Request body too large", "The request body exceeds the size limit of the gateway."
)
RATE_LIMITED = Refusal(
    429, "rate-limited", "Rate limit exceeded", "Too many requests for this API key; retry after a pause."
)
QUOTA_EXCEEDED = Refusal(
    429,
    "quota-exceeded",
    "Daily quota exceeded",
    "This API key used its daily quota; it resets at 00:00 UTC.",
)
BAD_GATEWAY = Refusal(
    502, "upstream-unavailable", "Upstream unavailable", "The service behind this route did not answer."
)

ALL: tuple[Refusal, ...] = (
    NON_CANONICAL,
    UNAUTHENTICATED,
    BLOCKED,
    UNAUTHORIZED,
    NOT_FOUND,
    FORBIDDEN,
    METHOD_NOT_ALLOWED,
    TOO_LARGE,
    RATE_LIMITED,
    QUOTA_EXCEEDED,
    BAD_GATEWAY,
)
