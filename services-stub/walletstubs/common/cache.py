"""Read caches: Redis with TTL on the real backend, an in-process dict on the embedded one.

The cache is never on the write path. Values carry a version: :meth:`Cache.set_if_newer` only ever
replaces a value with a newer version, so a slow reader that loaded an old row cannot overwrite what a
writer stored after its commit. Writers publish the new version **after** commit, best-effort
(:class:`Publisher`): when Redis does not answer, the newest version per key is kept and re-sent in
the background until it lands, so an outage can neither fail a transfer nor leave an old balance
behind once Redis is back. Reads degrade to a miss (the database answers) and, after a failure,
skip Redis for a moment so a dead cache costs no latency.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.credentials import CredentialProvider

from walletstubs.common import metrics
from walletstubs.common.settings import PREFIX, SettingsError, env, env_optional

log = logging.getLogger("walletstubs.cache")
SOCKET_TIMEOUT_SECONDS = 0.25
BACKOFF_SECONDS = 1.0
REPAIR_LIMIT = 10000

_SET_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local version = tonumber(string.match(current, '^(%d+)|'))
  if version and version >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"""


class CacheUnavailable(Exception):
    """The cache did not take a write; the caller may retry later."""


class Cache(Protocol):
    """A string cache with TTLs and version-monotonic writes."""

    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str, ttl: float) -> None: ...
    async def set_if_newer(self, key: str, version: int, value: str, ttl: float) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class MemoryCache:
    """The embedded backend's cache: per process, so it is exact for a single service process."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, int, str]] = {}

    async def get(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            metrics.cache_lookup(hit=False)
            return None
        metrics.cache_lookup(hit=True)
        return item[2]

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._items[key] = (time.monotonic() + ttl, 0, value)

    async def set_if_newer(self, key: str, version: int, value: str, ttl: float) -> None:
        item = self._items.get(key)
        if item is not None and item[0] >= time.monotonic() and item[1] >= version:
            return
        self._items[key] = (time.monotonic() + ttl, version, value)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._items.clear()


class RedisCache:
    """Redis-backed cache; keys are prefixed with the service name. Reads degrade to a miss and skip
    Redis for :data:`BACKOFF_SECONDS` after a failure; versioned writes raise :class:`CacheUnavailable`
    so the :class:`Publisher` can retry them."""

    def __init__(self, url: str, namespace: str, credentials: CredentialProvider | None = None) -> None:
        self._redis = aioredis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            decode_responses=True,
            credential_provider=credentials,
        )
        self._prefix = f"{namespace}:"
        self._script = self._redis.register_script(_SET_IF_NEWER)
        self._skip_until = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, what: str, exc: Exception) -> None:
        if self._available():
            log.warning(
                "cache %s failed (%s); skipping the cache for %.0fs",
                what,
                type(exc).__name__,
                BACKOFF_SECONDS,
            )
        self._skip_until = time.monotonic() + BACKOFF_SECONDS

    async def get(self, key: str) -> str | None:
        if not self._available():
            metrics.cache_lookup(hit=False)
            return None
        try:
            value = await self._redis.get(self._prefix + key)
        except (aioredis.RedisError, OSError) as exc:
            self._failed("read", exc)
            metrics.cache_lookup(hit=False)
            return None
        metrics.cache_lookup(hit=value is not None)
        if value is None:
            return None
        _, _, payload = str(value).partition("|")
        return payload

    async def set(self, key: str, value: str, ttl: float) -> None:
        if not self._available():
            return
        try:
            await self._redis.set(self._prefix + key, f"0|{value}", px=int(ttl * 1000))
        except (aioredis.RedisError, OSError) as exc:
            self._failed("write", exc)

    async def set_if_newer(self, key: str, version: int, value: str, ttl: float) -> None:
        if not self._available():
            raise CacheUnavailable(key)
        try:
            await self._script(keys=[self._prefix + key], args=[version, value, max(1, int(ttl))])
        except (aioredis.RedisError, OSError) as exc:
            self._failed("write", exc)
            raise CacheUnavailable(key) from exc

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


class Publisher:
    """Publishes versioned values after commit; what the cache refuses is retried in the background.

    Only the newest version per key is kept, and at most :data:`REPAIR_LIMIT` keys (beyond that the
    oldest are dropped: their cached values expire with the TTL anyway).
    """

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._pending: dict[str, tuple[int, str, float]] = {}

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def publish(self, key: str, version: int, value: str, ttl: float) -> None:
        """Best-effort: never raises; a refused write is queued for :meth:`repair_forever`."""
        try:
            await self.cache.set_if_newer(key, version, value, ttl)
        except CacheUnavailable:
            self._remember(key, version, value, ttl)
            return
        queued = self._pending.get(key)
        if queued is not None and queued[0] <= version:
            del self._pending[key]

    def _remember(self, key: str, version: int, value: str, ttl: float) -> None:
        queued = self._pending.get(key)
        if queued is not None and queued[0] >= version:
            return
        self._pending.pop(key, None)
        self._pending[key] = (version, value, ttl)
        while len(self._pending) > REPAIR_LIMIT:
            del self._pending[next(iter(self._pending))]

    async def repair_once(self) -> None:
        """Re-send every queued value; stop at the first refusal (the cache is still away)."""
        for key, (version, value, ttl) in list(self._pending.items()):
            try:
                await self.cache.set_if_newer(key, version, value, ttl)
            except CacheUnavailable:
                return
            if self._pending.get(key, (None,))[0] == version:
                del self._pending[key]

    async def repair_forever(self, interval: float = BACKOFF_SECONDS) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._pending:
                await self.repair_once()


class IamToken(CredentialProvider):
    """ElastiCache IAM authentication: the user and a 15-minute SigV4-presigned ``connect`` request
    for the cache (AWS's documented token), made locally from the pod's/task's role credentials for
    every new connection, so no password exists to store or rotate."""

    def __init__(self, user: str, cache_name: str, region: str) -> None:
        import botocore.session  # only images that use IAM auth need botocore
        from botocore.model import ServiceId
        from botocore.signers import RequestSigner

        session = botocore.session.get_session()
        credentials = session.get_credentials()
        if credentials is None:
            raise SettingsError(f"{PREFIX}CACHE_IAM_AUTH=1 but no AWS credentials are available")
        self.user, self.cache_name, self.region = user, cache_name, region
        self._signer = RequestSigner(
            ServiceId("elasticache"),
            region,
            "elasticache",
            "v4",
            credentials,
            session.get_component("event_emitter"),
        )

    def get_credentials(self) -> tuple[str, str]:
        query = urlencode({"Action": "connect", "User": self.user})
        request = {
            "method": "GET",
            "url": f"http://{self.cache_name}/?{query}",
            "body": {},
            "headers": {},
            "context": {},
        }
        signed: str = self._signer.generate_presigned_url(
            request, operation_name="connect", expires_in=900, region_name=self.region
        )
        return self.user, signed.removeprefix("http://")


def iam_credentials(url: str) -> tuple[str, IamToken | None]:
    """With ``WALLETSTUB_CACHE_IAM_AUTH=1``: the URL without its user (redis-py takes either a URL
    user or a credential provider) and the :class:`IamToken` for that user of ``WALLETSTUB_CACHE_NAME``
    (the replication group) in ``AWS_REGION``; otherwise the URL unchanged and no provider."""
    if env("CACHE_IAM_AUTH", "0") != "1":
        return url, None
    parts = urlsplit(url)
    if not parts.username or parts.password:
        raise SettingsError(f"{PREFIX}CACHE_URL must name the user and no password for IAM authentication")
    region = os.environ.get("AWS_REGION")
    if not region:
        raise SettingsError(f"{PREFIX}CACHE_IAM_AUTH=1 needs AWS_REGION (the region of the cache)")
    host = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    cache_name = env_optional("CACHE_NAME")
    if cache_name is None:
        raise SettingsError(
            f"{PREFIX}CACHE_NAME is required with {PREFIX}CACHE_IAM_AUTH=1 (the replication group)"
        )
    return bare, IamToken(parts.username, cache_name, region)


def make_cache(url: str, namespace: str) -> Cache:
    """``memory://`` -> :class:`MemoryCache`; ``redis://…`` -> :class:`RedisCache` (with IAM
    authentication when ``WALLETSTUB_CACHE_IAM_AUTH=1``)."""
    if url == "memory://":
        return MemoryCache()
    if url.startswith(("redis://", "rediss://")):
        bare, credentials = iam_credentials(url)
        return RedisCache(bare, namespace, credentials)
    raise ValueError(f"unsupported cache URL {url.split(':', 1)[0]!r}; use memory:// or redis://")
