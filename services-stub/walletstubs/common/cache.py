"""Read caches: Redis with TTL on the real backend, an in-process dict on the embedded one.

Values carry a version. :meth:`Cache.set_if_newer` only ever replaces a value with a newer version,
so a slow reader that loaded an old row cannot overwrite what a writer stored after its commit.
Writers :meth:`Cache.delete` before commit and ``set_if_newer`` after it (see the wallet service).
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import redis.asyncio as aioredis

log = logging.getLogger("walletstubs.cache")

_SET_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local version = tonumber(string.match(current, '^(%d+)|'))
  if version and version >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"""


class Cache(Protocol):
    """A string cache with TTLs and version-monotonic writes."""

    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str, ttl: float) -> None: ...
    async def set_if_newer(self, key: str, version: int, value: str, ttl: float) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class MemoryCache:
    """The embedded backend's cache: per process, so it is exact for a single service process."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, int, str]] = {}

    async def get(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return None
        return item[2]

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._items[key] = (time.monotonic() + ttl, 0, value)

    async def set_if_newer(self, key: str, version: int, value: str, ttl: float) -> None:
        item = self._items.get(key)
        if item is not None and item[0] >= time.monotonic() and item[1] >= version:
            return
        self._items[key] = (time.monotonic() + ttl, version, value)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._items.pop(key, None)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._items.clear()


class RedisCache:
    """Redis-backed cache; keys are prefixed with the service name. Read errors degrade to a miss;
    a failed ``delete`` raises, so a writer never commits while a stale value may stay cached."""

    def __init__(self, url: str, namespace: str) -> None:
        self._redis = aioredis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )
        self._prefix = f"{namespace}:"
        self._script = self._redis.register_script(_SET_IF_NEWER)

    async def get(self, key: str) -> str | None:
        try:
            value = await self._redis.get(self._prefix + key)
        except aioredis.RedisError as exc:
            log.warning("cache read failed, reading through: %s", type(exc).__name__)
            return None
        if value is None:
            return None
        _, _, payload = str(value).partition("|")
        return payload

    async def set(self, key: str, value: str, ttl: float) -> None:
        try:
            await self._redis.set(self._prefix + key, f"0|{value}", px=int(ttl * 1000))
        except aioredis.RedisError as exc:
            log.warning("cache write failed: %s", type(exc).__name__)

    async def set_if_newer(self, key: str, version: int, value: str, ttl: float) -> None:
        try:
            await self._script(keys=[self._prefix + key], args=[version, value, max(1, int(ttl))])
        except aioredis.RedisError as exc:
            log.warning("cache write failed: %s", type(exc).__name__)

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(self._prefix + key for key in keys))

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


def make_cache(url: str, namespace: str) -> Cache:
    """``memory://`` -> :class:`MemoryCache`; ``redis://…`` -> :class:`RedisCache`."""
    if url == "memory://":
        return MemoryCache()
    if url.startswith(("redis://", "rediss://")):
        return RedisCache(url, namespace)
    raise ValueError(f"unsupported cache URL {url.split(':', 1)[0]!r}; use memory:// or redis://")
