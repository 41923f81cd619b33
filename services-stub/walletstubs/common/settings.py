"""Service configuration from ``WALLETSTUB_*`` environment variables.

Locally :mod:`walletstubs.localstack.topology` writes them; in the cloud the Pulumi program does.

A missing or malformed variable stops the service at start-up with a message naming the variable.
Outside a container a service only ever binds to loopback; the images set ``WALLETSTUB_CONTAINER=1``
so they can listen on the pod network (where network policies and the gateway front them).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

PREFIX = "WALLETSTUB_"


class SettingsError(RuntimeError):
    """A required ``WALLETSTUB_*`` variable is missing or malformed."""


def env(name: str, default: str | None = None) -> str:
    """The value of ``WALLETSTUB_<name>``, else ``default`` (``""`` for an optional setting); raises
    :class:`SettingsError` when unset or empty and there is no default."""
    value = os.environ.get(PREFIX + name)
    if value is None or value == "":
        if default is None:
            raise SettingsError(f"environment variable {PREFIX}{name} is required")
        return default
    return value


def env_optional(name: str) -> str | None:
    """The value of ``WALLETSTUB_<name>``, or ``None`` when unset or empty (an optional feature)."""
    return os.environ.get(PREFIX + name) or None


def env_int(name: str, default: int | None = None) -> int:
    raw = env(name, None if default is None else str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name}={raw!r} is not an integer") from exc


def env_float(name: str, default: float) -> float:
    raw = env(name, str(default))
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name}={raw!r} is not a number") from exc


def env_bounded(name: str, default: int, low: int, high: int) -> int:
    """An integer ``WALLETSTUB_<name>`` within ``low..high``; anything else stops the service."""
    value = env_int(name, default)
    if not low <= value <= high:
        raise SettingsError(f"{PREFIX}{name}={value} is out of range; allowed: {low}-{high}")
    return value


def _environment(value: str) -> str:
    """The environment's name, which is also the namespace of the log data streams."""
    if not re.fullmatch(r"[a-z0-9_]{1,32}", value):
        raise SettingsError(
            f"{PREFIX}ENVIRONMENT={value!r}: use lower-case letters, digits and _ "
            "(dev, qa, stage, prod, local)"
        )
    return value


@dataclass(frozen=True)
class ServiceSettings:
    """What every service needs: its name, where it listens, its database and cache, how many worker
    processes serve it (each with its own database pool), how long idempotency keys live, and what its
    logs and traces call it (``version``: the image's; ``environment``: dev, qa, stage, prod or local)."""

    service: str
    host: str
    port: int
    database_url: str
    cache_url: str
    log_level: str
    workers: int = 1
    db_pool_size: int = 8
    idempotency_ttl_hours: int = 24
    version: str = "1.0.0"
    environment: str = "local"

    @classmethod
    def from_env(cls, service: str) -> ServiceSettings:
        host = env("HOST", "127.0.0.1")
        in_container = env("CONTAINER", "0") == "1"
        if host not in {"127.0.0.1", "::1", "localhost"} and not in_container:
            raise SettingsError(
                f"{PREFIX}HOST={host!r}: outside a container the services listen on loopback only (127.0.0.1)"
            )
        return cls(
            service=env("SERVICE", service),
            host=host,
            port=env_int("PORT"),
            database_url=env("DATABASE_URL"),
            cache_url=env("CACHE_URL", "memory://"),
            log_level=env("LOG_LEVEL", "INFO").upper(),
            workers=env_bounded("WORKERS", 1, 1, 16),
            db_pool_size=env_bounded("DB_POOL_SIZE", 8, 1, 64),
            idempotency_ttl_hours=env_bounded("IDEMPOTENCY_TTL_HOURS", 24, 1, 720),
            version=env("SERVICE_VERSION", "1.0.0"),
            environment=_environment(env("ENVIRONMENT", "local")),
        )
