"""The ``Idempotency-Key`` header contract shared by every money-moving POST.

The key is required; the same key with the same body replays the first answer (with
``Idempotent-Replayed: true``); the same key with a different body is a 422. Each service stores
keys in its own database under a unique constraint, so concurrent retries create one effect.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse

from walletstubs.common.problems import Problem

REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Unique per operation; retries with the same key and body replay the first answer",
    ),
]


def request_hash(scope: str, body: Any) -> str:
    """Fingerprint of a request body (canonical JSON) within ``scope``."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{scope}\n{canonical}".encode()).hexdigest()


def replay(stored_hash: str, new_hash: str, status: int, body: str, key: str) -> JSONResponse:
    """The stored answer for ``key``, or a 422 when the key was used with a different body."""
    if stored_hash != new_hash:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused with a different request",
            f"Idempotency-Key {key!r} was already used with a different request body; use a new key",
        )
    return JSONResponse(json.loads(body), status_code=status, headers={REPLAYED_HEADER: "true"})
