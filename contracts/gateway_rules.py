"""The effective gateway rules: the one normalized view of ``gateway.yaml`` that every rendering enforces.

The spec (``contracts/gateway_spec.py``) is written for people: templated exchange routes, consumers as a
list. The renderings need something flatter and deterministic: every concrete route with its service,
every consumer with its rate, burst, daily quota and scopes, the body limit and blocked patterns. The
nginx config, the in-process gateway of the embedded stack and the AWS component (API Gateway usage
plans + WAF) are all derived from :func:`effective_rules`, and the consistency test compares each
rendering with it, so the three cannot drift apart.

This module imports nothing from the services package, so ``infra`` can use it in the Pulumi program.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from contracts.gateway_spec import GatewaySpec

API_KEY_HEADER = "X-Api-Key"
"""The request header carrying the consumer's API key (API Gateway's ``x-api-key`` too)."""
CONSUMER_HEADER = "X-Consumer"
"""Set by every gateway to the calling consumer; a client's own copy never reaches a service."""
USER_HEADER = "X-User-Sub"
"""Set by every gateway to the end user's ``sub`` (``none`` on routes without end users)."""
NO_USER = "none"
NON_CANONICAL_PATH = r"(?i)%2e|%2f|%5c|//|/\.\.?(/|$)"
"""A raw path that a proxy and a service could read differently (encoded dots, slashes or backslashes,
empty or dot segments) is refused with 400 before anything else, by every gateway."""


@dataclass(frozen=True)
class RouteRule:
    """A concrete path prefix served by one service; callers need ``scope`` among their scopes."""

    name: str
    path_prefix: str
    service: str
    methods: tuple[str, ...]
    scope: str
    end_users: bool = False
    """True when callers must also present an end user's JWT carrying the spec's OAuth scope."""

    def matches(self, path: str) -> bool:
        """True for the prefix itself or a path below it (``/v1/accounts/42``, not ``/v1/accountsX``)."""
        return path == self.path_prefix or path.startswith(self.path_prefix + "/")


@dataclass(frozen=True)
class ConsumerRule:
    """One API key's limits: a leaky bucket of ``rate_per_second`` with ``burst``, and a daily quota."""

    name: str
    scopes: tuple[str, ...]
    rate_per_second: int
    burst: int
    quota_per_day: int


@dataclass(frozen=True)
class EffectiveRules:
    """Everything a gateway enforces, with exchange routes expanded for one environment."""

    routes: tuple[RouteRule, ...]
    consumers: tuple[ConsumerRule, ...]
    max_body_bytes: int
    blocked_patterns: tuple[str, ...]
    oauth_scope: str = ""

    def route_for(self, path: str) -> RouteRule | None:
        """The route serving ``path``: the longest matching prefix, as nginx's location matching picks."""
        best: RouteRule | None = None
        for route in self.routes:
            if route.matches(path) and (best is None or len(route.path_prefix) > len(best.path_prefix)):
                best = route
        return best

    def consumer(self, name: str) -> ConsumerRule:
        """The consumer called ``name``; ``KeyError`` when the spec has none."""
        for consumer in self.consumers:
            if consumer.name == name:
                return consumer
        raise KeyError(name)

    def routed_services(self) -> list[str]:
        """The services behind the gateway, sorted, each once."""
        return sorted({route.service for route in self.routes})

    @staticmethod
    def non_canonical(raw_path: str) -> bool:
        """True when the raw (undecoded) path is ambiguous; see :data:`NON_CANONICAL_PATH`."""
        return re.search(NON_CANONICAL_PATH, raw_path) is not None

    def blocked(self, target: str) -> str | None:
        """The first blocked pattern matching the raw request target (path and query), if any."""
        for pattern in self.blocked_patterns:
            if re.search(pattern, target):
                return pattern
        return None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form, used to hand the rules to the gateway process and to compare renderings."""
        return {
            "routes": [asdict(route) | {"methods": list(route.methods)} for route in self.routes],
            "consumers": [
                asdict(consumer) | {"scopes": list(consumer.scopes)} for consumer in self.consumers
            ],
            "max_body_bytes": self.max_body_bytes,
            "blocked_patterns": list(self.blocked_patterns),
            "oauth_scope": self.oauth_scope,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EffectiveRules:
        """Inverse of :meth:`as_dict`."""
        return cls(
            routes=tuple(
                RouteRule(
                    name=r["name"],
                    path_prefix=r["path_prefix"],
                    service=r["service"],
                    methods=tuple(r["methods"]),
                    scope=r["scope"],
                    end_users=bool(r["end_users"]),
                )
                for r in data["routes"]
            ),
            consumers=tuple(
                ConsumerRule(
                    name=c["name"],
                    scopes=tuple(c["scopes"]),
                    rate_per_second=int(c["rate_per_second"]),
                    burst=int(c["burst"]),
                    quota_per_day=int(c["quota_per_day"]),
                )
                for c in data["consumers"]
            ),
            max_body_bytes=int(data["max_body_bytes"]),
            blocked_patterns=tuple(data["blocked_patterns"]),
            oauth_scope=str(data["oauth_scope"]),
        )


def effective_rules(spec: GatewaySpec, exchanges: Sequence[str]) -> EffectiveRules:
    """Normalize ``spec`` for an environment whose exchanges are ``exchanges`` (in config order).

    Routes keep spec order with exchange templates expanded; methods are sorted and deduplicated;
    consumers keep spec order. Two environments with the same exchanges get equal rules.
    """
    routes = tuple(
        RouteRule(
            name=route.name,
            path_prefix=route.path_prefix,
            service=route.service,
            methods=tuple(sorted(set(route.methods))),
            scope=route.scope,
            end_users=route.scope in spec.end_user_auth.route_scopes,
        )
        for route in spec.expanded_routes(list(exchanges))
    )
    consumers = tuple(
        ConsumerRule(
            name=consumer.name,
            scopes=tuple(sorted(set(consumer.scopes))),
            rate_per_second=consumer.rate_per_second,
            burst=consumer.burst,
            quota_per_day=consumer.quota_per_day,
        )
        for consumer in spec.consumers
    )
    return EffectiveRules(
        routes=routes,
        consumers=consumers,
        max_body_bytes=spec.max_body_bytes,
        blocked_patterns=tuple(spec.blocked_patterns),
        oauth_scope=spec.end_user_auth.oauth_scope,
    )
