"""The API gateway spec (``gateway.yaml``): routes, consumers, limits and blocked patterns.

One spec, three renderings: nginx for the local real stack, the in-process gateway of the embedded
stack, and API Gateway + WAF in AWS. Exchange routes are templated: ``{exchange}`` expands to one
route per exchange of the environment, so adding an exchange to config adds its route everywhere.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.documents import load_yaml_model

SPEC_FILE = "gateway.yaml"
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Route(_Strict):
    """A path prefix served by one service, open to consumers holding ``scope``."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    path_prefix: Annotated[str, Field(pattern=r"^/v1/[a-z0-9/{}_-]+$")]
    service: Annotated[str, Field(pattern=r"^[a-z][a-z0-9{}-]*$")]
    methods: Annotated[list[Method], Field(min_length=1)]
    scope: Literal["public", "operator"]


class Consumer(_Strict):
    """A caller with its own API key: rate (leaky bucket, requests/s), burst and daily quota."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    scopes: Annotated[list[Literal["public", "operator"]], Field(min_length=1)]
    rate_per_second: Annotated[int, Field(ge=1, le=10000)]
    burst: Annotated[int, Field(ge=1, le=20000)]
    quota_per_day: Annotated[int, Field(ge=1)]


class EndUserAuth(_Strict):
    """End users authenticated by JWT at the gateway, on top of the consumer's API key: an access token
    of the Cognito user pool in AWS, of the local stack's own issuer locally, carrying ``oauth_scope``,
    required on the routes whose scope is listed in ``route_scopes``."""

    route_scopes: list[Literal["public", "operator"]]
    oauth_scope: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*/[a-z][a-z0-9-]*$")]


class GatewaySpec(_Strict):
    max_body_bytes: Annotated[int, Field(ge=1024, le=10_485_760)]
    blocked_patterns: list[str]
    end_user_auth: EndUserAuth
    routes: Annotated[list[Route], Field(min_length=1)]
    consumers: Annotated[list[Consumer], Field(min_length=1)]

    @field_validator("blocked_patterns")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from exc
        return patterns

    @model_validator(mode="after")
    def _unique(self) -> GatewaySpec:
        for kind, names in (
            ("route", [r.name for r in self.routes]),
            ("consumer", [c.name for c in self.consumers]),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"{kind} names must be unique, got {names}")
        return self

    def expanded_routes(self, exchanges: list[str]) -> list[Route]:
        """Routes with ``{exchange}`` templates expanded once per exchange name, in config order."""
        routes: list[Route] = []
        for route in self.routes:
            if "{exchange}" not in route.path_prefix:
                routes.append(route)
                continue
            for exchange in exchanges:
                routes.append(
                    route.model_copy(
                        update={
                            "name": f"{route.name}-{exchange}",
                            "path_prefix": route.path_prefix.replace("{exchange}", exchange),
                            "service": route.service.replace("{exchange}", exchange),
                        }
                    )
                )
        return routes

    def consumer(self, name: str) -> Consumer:
        for consumer in self.consumers:
            if consumer.name == name:
                return consumer
        raise KeyError(name)


def load_gateway_spec(project_dir: Path) -> GatewaySpec:
    """Read and validate ``gateway.yaml``; problems are reported as usage errors (exit 2)."""
    return load_yaml_model(GatewaySpec, project_dir / SPEC_FILE, str(project_dir / SPEC_FILE))
