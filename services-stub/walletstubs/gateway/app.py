"""The in-process gateway of the embedded stack: an ASGI reverse proxy enforcing the effective rules.

Same checks, order and refusal bodies as the nginx rendering (:mod:`walletstubs.gateway.nginx`):
an ambiguous raw path (400), blocked patterns on the raw target, the decoded path and the decoded
query (403), route (404), declared body size (413), API key (401), scope (403), method (405), the end
user's JWT on routes that need one (401, :mod:`walletstubs.gateway.jwt`), rate limit (429 +
``Retry-After``), daily quota (429 + ``Retry-After``), then the body is read (413 if a chunked body
outgrows the limit) and the request is proxied over keep-alive connections
(:mod:`walletstubs.gateway.upstream`) with ``X-Consumer`` and ``X-User-Sub`` set by the gateway --
clients' own copies, and their API key, never reach a service.

Rate limits use the ``limits`` library. nginx's ``limit_req rate=r burst=B nodelay`` is a leaky
bucket: at most ``B + 1`` requests at once, then ``r`` per second. ``limits`` has no leaky bucket, so
each consumer gets two windows that bound the same envelope:

* a moving window of ``B + 1`` requests per second -- the same instantaneous burst as nginx;
* a sliding-window counter of ``60·r + B + 1`` requests per minute -- the most a leaky bucket admits
  in any minute, so the sustained rate is ``r`` plus at most ``(B + 1)/60`` per second.

Within one second after a full burst nginx may admit up to ``r`` more than the moving window does;
over a minute both admit the same at most. Daily quotas are a per-consumer counter that resets at
00:00 UTC, like an API Gateway usage plan with period ``DAY``.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from contracts.gateway_rules import (
    API_KEY_HEADER,
    CONSUMER_HEADER,
    NO_USER,
    USER_HEADER,
    ConsumerRule,
    EffectiveRules,
    RouteRule,
)
from walletstubs.common.telemetry import ACCESS_DATASET, continue_trace
from walletstubs.gateway import problems
from walletstubs.gateway.jwt import TokenVerifier
from walletstubs.gateway.problems import PROBLEM_CONTENT_TYPE, Refusal
from walletstubs.gateway.upstream import UpstreamError, UpstreamPool

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
    }
)
_STRIPPED = _HOP_BY_HOP | {
    API_KEY_HEADER.lower().encode(),
    CONSUMER_HEADER.lower().encode(),
    USER_HEADER.lower().encode(),
    b"x-request-id",
}
access_log = logging.getLogger("gateway.access")


@dataclass
class _ConsumerLimits:
    burst: RateLimitItem
    sustained: RateLimitItem


@dataclass
class DailyQuota:
    """Requests per consumer per UTC day; ``today`` is injectable so tests can cross midnight."""

    today: Callable[[], date] = field(default=lambda: datetime.now(UTC).date())
    _counts: dict[str, tuple[date, int]] = field(default_factory=dict)

    def take(self, consumer: ConsumerRule) -> bool:
        """Count one request; False (and not counted) when the consumer's quota for today is used up."""
        day = self.today()
        counted_day, used = self._counts.get(consumer.name, (day, 0))
        if counted_day != day:
            used = 0
        if used >= consumer.quota_per_day:
            return False
        self._counts[consumer.name] = (day, used + 1)
        return True

    def seconds_to_reset(self) -> int:
        now = datetime.now(UTC)
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        return max(1, math.ceil((midnight - now).total_seconds()))


class Gateway:
    """ASGI app: ``upstreams`` maps each routed service to its base URL (``http://127.0.0.1:PORT``)."""

    def __init__(
        self,
        rules: EffectiveRules,
        *,
        keys: Mapping[str, str],
        upstreams: Mapping[str, str],
        verifier: TokenVerifier | None = None,
        quota: DailyQuota | None = None,
    ) -> None:
        missing = [c.name for c in rules.consumers if c.name not in keys]
        missing += [s for s in rules.routed_services() if s not in upstreams]
        if missing:
            raise ValueError(f"gateway needs an API key or upstream for: {', '.join(missing)}")
        if verifier is None and any(route.end_users for route in rules.routes):
            raise ValueError("routes need end-user JWTs: the gateway needs a token verifier")
        self.rules = rules
        self._verifier = verifier
        self._keys = [(key.encode(), rules.consumer(name)) for name, key in keys.items()]
        self._upstreams = dict(upstreams)
        self._quota = quota or DailyQuota()
        self._storage = MemoryStorage()
        self._burst_window = MovingWindowRateLimiter(self._storage)
        self._sustained_window = SlidingWindowCounterRateLimiter(self._storage)
        self._limits = {
            c.name: _ConsumerLimits(
                burst=RateLimitItemPerSecond(c.burst + 1),
                sustained=RateLimitItemPerMinute(60 * c.rate_per_second + c.burst + 1),
            )
            for c in rules.consumers
        }
        self._pools: dict[str, UpstreamPool] = {}
        for service, base_url in self._upstreams.items():
            parsed = urlsplit(base_url)
            if parsed.scheme != "http" or parsed.hostname is None or parsed.port is None:
                raise ValueError(f"upstream of {service!r} must be http://HOST:PORT, got {base_url!r}")
            self._pools[service] = UpstreamPool(parsed.hostname, parsed.port)

    async def aclose(self) -> None:
        """Close the idle upstream connections."""
        for pool in self._pools.values():
            pool.close()

    def _consumer(self, presented: bytes | None) -> ConsumerRule | None:
        if not presented:
            return None
        found = None
        for key, consumer in self._keys:
            if hmac.compare_digest(key, presented):
                found = consumer
        return found

    def _rate_limited(self, consumer: ConsumerRule) -> int | None:
        """None when admitted (and counted); otherwise the Retry-After in seconds."""
        limits = self._limits[consumer.name]
        windows = ((self._burst_window, limits.burst), (self._sustained_window, limits.sustained))
        for limiter, item in windows:
            if not limiter.test(item, consumer.name):
                reset = limiter.get_window_stats(item, consumer.name).reset_time
                return max(problems.RATE_LIMIT_RETRY_AFTER_SECONDS, math.ceil(reset - time.time()))
        for limiter, item in windows:
            limiter.hit(item, consumer.name)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        scope["headers"] = continue_trace(scope["headers"])
        status, consumer, route = await self._handle(scope, receive, send, request_id)
        access_log.info(
            "%s %s %s",
            scope["method"],
            scope["path"],
            status,
            extra={
                "http.request.method": scope["method"],
                "http.request.id": request_id,
                "http.response.status_code": status,
                "url.path": scope["path"],
                "client.ip": (scope.get("client") or ("", 0))[0],
                "event.dataset": ACCESS_DATASET,
                "event.kind": "event",
                "event.category": ["web"],
                "event.duration": int((time.perf_counter() - started) * 1e9),
                "labels": {
                    "consumer": consumer.name if consumer else "",
                    "route": route.name if route else "",
                },
            },
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> tuple[int, ConsumerRule | None, RouteRule | None]:
        headers = dict(scope["headers"])
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        target = raw_path.decode("latin-1")
        if self.rules.non_canonical(target):
            return await _refuse(send, problems.NON_CANONICAL), None, None
        query = scope.get("query_string", b"").decode("latin-1")
        if query:
            target += "?" + query
        if any(self.rules.blocked(text) for text in (target, scope["path"], unquote_plus(query))):
            return await _refuse(send, problems.BLOCKED), None, None
        if scope["path"] == "/healthz":
            await _respond(send, 200, b'{"status":"ok"}', "application/json")
            return 200, None, None
        route = self.rules.route_for(scope["path"])
        if route is None:
            return await _refuse(send, problems.NOT_FOUND), None, None
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.rules.max_body_bytes:
            return await _refuse(send, problems.TOO_LARGE), None, route
        consumer = self._consumer(headers.get(API_KEY_HEADER.lower().encode()))
        if consumer is None:
            return await _refuse(send, problems.UNAUTHORIZED), None, route
        if route.scope not in consumer.scopes:
            return await _refuse(send, problems.FORBIDDEN), consumer, route
        if scope["method"] not in route.methods:
            return await _refuse(send, problems.METHOD_NOT_ALLOWED), consumer, route
        user = NO_USER
        if route.end_users:
            assert self._verifier is not None
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            claims = self._verifier.verify(authorization, self.rules.oauth_scope)
            if claims is None:
                return await _refuse(send, problems.UNAUTHENTICATED, bearer=True), consumer, route
            user = claims.sub
        retry_after = self._rate_limited(consumer)
        if retry_after is not None:
            return await _refuse(send, problems.RATE_LIMITED, retry_after), consumer, route
        if not self._quota.take(consumer):
            return (
                await _refuse(send, problems.QUOTA_EXCEEDED, self._quota.seconds_to_reset()),
                consumer,
                route,
            )
        body = await _read_body(receive, self.rules.max_body_bytes)
        if body is None:
            return await _refuse(send, problems.TOO_LARGE), consumer, route
        return (
            await self._proxy(scope, send, route, consumer, body=body, request_id=request_id, user=user),
            consumer,
            route,
        )

    async def _proxy(
        self,
        scope: Scope,
        send: Send,
        route: RouteRule,
        consumer: ConsumerRule,
        *,
        body: bytes,
        request_id: str,
        user: str,
    ) -> int:
        target = scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k.lower() not in _STRIPPED and k.lower() != b"content-length"
        ]
        headers += [
            (CONSUMER_HEADER.lower().encode(), consumer.name.encode()),
            (USER_HEADER.lower().encode(), user.encode()),
            (b"x-request-id", request_id.encode()),
            (b"x-forwarded-for", (scope.get("client") or ("", 0))[0].encode()),
        ]
        try:
            response = await self._pools[route.service].request(scope["method"], target, headers, body)
        except UpstreamError:
            return await _refuse(send, problems.BAD_GATEWAY)
        forwarded = [(k, v) for k, v in response.headers if k not in _HOP_BY_HOP and k != b"content-length"]
        forwarded.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": forwarded})
        await send({"type": "http.response.body", "body": response.body})
        return response.status


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, content_type: str, extra: list[Any] | None = None
) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


async def _refuse(
    send: Send, refusal: Refusal, retry_after: int | None = None, *, bearer: bool = False
) -> int:
    extra = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
    if bearer:
        extra.append((b"www-authenticate", b'Bearer error="invalid_token"'))
    await _respond(send, refusal.status, refusal.body(), PROBLEM_CONTENT_TYPE, extra)
    return refusal.status


@dataclass(frozen=True)
class GatewaySettings:
    """What the gateway process needs, stored as JSON (0600: it holds the API keys) by the stack."""

    rules: EffectiveRules
    keys: dict[str, str]
    upstreams: dict[str, str]
    port: int
    jwks: dict[str, Any]
    issuer: str

    def verifier(self) -> TokenVerifier:
        """The end-user token verifier: the stack's JWKS and issuer, the consumers as app clients."""
        return TokenVerifier(self.jwks, issuer=self.issuer, clients=[c.name for c in self.rules.consumers])

    def to_json(self) -> str:
        return json.dumps(
            {
                "rules": self.rules.as_dict(),
                "keys": self.keys,
                "upstreams": self.upstreams,
                "port": self.port,
                "jwks": self.jwks,
                "issuer": self.issuer,
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> GatewaySettings:
        data = json.loads(text)
        return cls(
            rules=EffectiveRules.from_dict(data["rules"]),
            keys=dict(data["keys"]),
            upstreams=dict(data["upstreams"]),
            port=int(data["port"]),
            jwks=dict(data["jwks"]),
            issuer=str(data["issuer"]),
        )
