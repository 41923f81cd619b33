"""Render the effective gateway rules to an nginx configuration, and read the limits back from one.

The rendering enforces, per request and in this order: an ambiguous raw path (400: encoded dot,
slash or backslash, empty or dot segments -- nginx would route the normalized path while the service
reads the raw one), blocked patterns (403; matched on the raw request target, the decoded path and
the decoded query, so ``%3Cscript`` anywhere is caught), route lookup (404), body size (413,
``client_max_body_size``, chunked bodies too), API key (401, ``map $http_x_api_key $consumer``),
route scope (403), method (405), the consumer's leaky bucket (``limit_req ... burst=N nodelay`` →
429 with ``Retry-After``), then the end user's JWT on routes that need one (401; ``auth_request`` to
an njs verifier on a unix socket behind a cache keyed on the token, :func:`render_jwt_script`).
``X-Consumer`` and ``X-User-Sub`` are set by nginx, the client's API key is not forwarded.

Debian ships njs 0.7 (``libnginx-mod-http-js``); its WebCrypto imports RSA keys as SPKI only, hence
the stack's keys in that form too.

Daily quotas are not enforced by nginx: it has no persistent counters without extra modules (njs
keyvals or a Lua module, neither in Debian's base nginx package). On the real local stack the quotas
(millions of requests per day) cannot be reached by a loopback run in any case; in AWS the usage plan
enforces them and on the embedded stack the in-process gateway does. :func:`limits_from_config`
reports quotas as not enforced so the consistency test states the gap instead of hiding it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2

from contracts.gateway_rules import NO_USER, EffectiveRules
from walletstubs.gateway import problems
from walletstubs.gateway.jwt import CACHE_SECONDS, LEEWAY_SECONDS
from walletstubs.gateway.problems import RATE_LIMIT_RETRY_AFTER_SECONDS

_KEY = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
JS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"
"""Debian's njs module (package ``libnginx-mod-http-js``), loaded by the rendered config."""


@dataclass(frozen=True)
class NginxPaths:
    """Where an nginx instance keeps its pid, logs and temporary files (all under the state folder)."""

    root: Path
    access_log_file: Path | None = None

    @property
    def conf(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def pid(self) -> Path:
        return self.root / "nginx.pid"

    @property
    def temp(self) -> Path:
        return self.root / "tmp"

    @property
    def error_log(self) -> Path:
        return self.root / "logs" / "error.log"

    @property
    def access_log(self) -> Path:
        """ECS NDJSON access log: ``access_log_file`` when given (the stack's logs folder)."""
        return self.access_log_file or self.root / "logs" / "access.log"

    @property
    def jwt_script(self) -> Path:
        return self.root / "jwt.js"

    @property
    def jwt_socket(self) -> Path:
        return self.root / "jwt.sock"

    @property
    def jwt_cache(self) -> Path:
        return self.root / "tmp" / "jwt-cache"


@dataclass(frozen=True)
class NginxJwt:
    """How nginx checks end-user tokens: the issuer and the public keys (``kid`` → base64 SPKI DER)."""

    issuer: str
    keys: Mapping[str, str]


def _ident(name: str) -> str:
    return name.replace("-", "_")


def _pcre(pattern: str) -> str:
    return pattern.replace("\\\\", "\\\\\\\\").replace('"', '\\"')


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("walletstubs.gateway", "."),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # noqa: S701 - renders an nginx config, not HTML
    keep_trailing_newline=True,
)
_ENV.filters["ident"] = _ident
_ENV.filters["pcre"] = _pcre


def render_nginx(
    rules: EffectiveRules,
    *,
    keys: Mapping[str, str],
    upstreams: Mapping[str, int],
    listen_port: int,
    paths: NginxPaths,
    environment: str = "local",
) -> str:
    """The nginx.conf for ``rules``: ``keys`` maps consumer → API key, ``upstreams`` service → port;
    it loads the token verifier from ``paths.jwt_script`` (:func:`render_jwt_script`). The access log
    is ECS JSON in the ``walletops.access`` data stream of ``environment``.

    Raises ``ValueError`` when a consumer has no key, a key is not a plain token, or a routed service
    has no upstream port.
    """
    problems_found = [f"consumer {c.name!r} has no API key" for c in rules.consumers if c.name not in keys]
    problems_found += [
        f"API key of consumer {name!r} must be 16-128 characters of [A-Za-z0-9_-]"
        for name, key in keys.items()
        if not _KEY.match(key)
    ]
    problems_found += [
        f"routed service {service!r} has no upstream port"
        for service in rules.routed_services()
        if service not in upstreams
    ]
    if not re.fullmatch(r"[a-z0-9_]{1,32}", environment):
        problems_found.append(f"environment {environment!r} must be 1-32 characters of [a-z0-9_]")
    if problems_found:
        raise ValueError("; ".join(problems_found))
    routes = sorted(rules.routes, key=lambda route: len(route.path_prefix), reverse=True)
    scopes = sorted({route.scope for route in rules.routes})
    return _ENV.get_template("nginx.conf.j2").render(
        rules=rules,
        routes=routes,
        scopes=scopes,
        keys=keys,
        upstreams=sorted((s, upstreams[s]) for s in rules.routed_services()),
        listen_port=listen_port,
        paths=paths,
        environment=environment,
        problems=problems,
        retry_after=RATE_LIMIT_RETRY_AFTER_SECONDS,
        js_module=JS_MODULE,
        no_user=NO_USER,
    )


def render_jwt_script(rules: EffectiveRules, jwt: NginxJwt) -> str:
    """The njs verifier of end-user tokens: the checks of :class:`walletstubs.gateway.jwt.TokenVerifier`."""
    if not jwt.keys:
        raise ValueError("the token verifier needs at least one public key")
    return _ENV.get_template("jwt.js.j2").render(
        keys=dict(jwt.keys),
        issuer=jwt.issuer,
        clients=[consumer.name for consumer in rules.consumers],
        scope=rules.oauth_scope,
        leeway=LEEWAY_SECONDS,
        cache_seconds=CACHE_SECONDS,
    )


@dataclass(frozen=True)
class RenderedLimits:
    """What an nginx config enforces, read back from its text (see :func:`limits_from_config`)."""

    consumers: dict[str, dict[str, int | None]]
    """consumer → ``rate_per_second``, ``burst``, and ``quota_per_day`` (None: nginx does not enforce it)."""
    routes: dict[str, str]
    """path prefix → upstream service."""
    route_methods: dict[str, tuple[str, ...]]
    route_scopes: dict[str, str]
    scope_members: dict[str, tuple[str, ...]]
    max_body_bytes: int
    blocked_patterns: tuple[str, ...]
    listen: tuple[str, ...]
    """Where clients reach nginx (TCP; the token verifier's unix socket is internal)."""


def limits_from_config(text: str) -> RenderedLimits:
    """Parse a config rendered by :func:`render_nginx` back into the rules it enforces.

    Used by the consistency test and by ``walletops verify`` to prove the running nginx enforces the
    gateway spec; it reads exactly the directives the renderer writes, not arbitrary nginx syntax.
    """
    zone_rates = {
        m["zone"]: int(m["rate"])
        for m in re.finditer(
            r"limit_req_zone \$limit_\w+ zone=(?P<zone>\w+):\w+ rate=(?P<rate>\d+)r/s;", text
        )
    }
    zone_consumer = {
        m["var"]: m["name"]
        for m in re.finditer(
            r'map \$consumer \$limit_(?P<var>\w+) \{\s*default "";\s*"(?P<name>[\w-]+)"', text
        )
    }
    bursts: dict[str, set[int]] = {}
    for m in re.finditer(r"limit_req zone=consumer_(?P<var>\w+) burst=(?P<burst>\d+) nodelay;", text):
        bursts.setdefault(m["var"], set()).add(int(m["burst"]))
    consumers: dict[str, dict[str, int | None]] = {}
    for var, name in zone_consumer.items():
        burst = bursts.get(var, set())
        if len(burst) != 1:
            raise ValueError(f"consumer {name!r}: expected one burst in every route, found {sorted(burst)}")
        consumers[name] = {
            "rate_per_second": zone_rates[f"consumer_{var}"],
            "burst": burst.pop(),
            "quota_per_day": None,
        }
    upstream_ports = {
        m["svc"]: m["port"]
        for m in re.finditer(r"upstream svc_(?P<svc>\w+) \{\s*server 127\.0\.0\.1:(?P<port>\d+);", text)
    }
    routes: dict[str, str] = {}
    methods: dict[str, tuple[str, ...]] = {}
    scopes: dict[str, str] = {}
    location = re.compile(
        r"location ~ \^(?P<prefix>/v1/[^(]+)\(\?:/\|\$\) \{(?P<body>.*?)proxy_pass http://svc_(?P<svc>\w+);",
        re.S,
    )
    for m in location.finditer(text):
        if m["svc"] not in upstream_ports:
            raise ValueError(f"location {m['prefix']} proxies to undefined upstream svc_{m['svc']}")
        routes[m["prefix"]] = m["svc"].replace("_", "-")
        method_match = re.search(r"\$request_method !~ \^\((?P<m>[A-Z|]+)\)\$", m["body"])
        scope_match = re.search(r"if \(\$scope_(?P<s>\w+) = 0\)", m["body"])
        methods[m["prefix"]] = tuple(method_match["m"].split("|")) if method_match else ()
        scopes[m["prefix"]] = scope_match["s"] if scope_match else ""
    members = {
        m["scope"]: tuple(re.findall(r'"([\w-]+)" 1;', m["body"]))
        for m in re.finditer(r"map \$consumer \$scope_(?P<scope>\w+) \{(?P<body>[^}]*)\}", text)
    }
    body = re.search(r"client_max_body_size (\d+);", text)
    blocked = tuple(
        m.replace('\\"', '"').replace("\\\\\\\\", "\\\\")
        for m in dict.fromkeys(re.findall(r'if \(\$(?:request_uri|uri) ~ "((?:[^"\\]|\\.)*)"\)', text))
    )
    return RenderedLimits(
        consumers=consumers,
        routes=routes,
        route_methods=methods,
        route_scopes=scopes,
        scope_members=members,
        max_body_bytes=int(body.group(1)) if body else 0,
        blocked_patterns=blocked,
        listen=tuple(re.findall(r"listen (?!unix:)([^;]+);", text)),
    )
