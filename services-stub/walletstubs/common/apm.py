"""APM with the Elastic APM Python agent: a transaction per request, spans for the database, Redis and
outbound HTTP calls, W3C ``traceparent`` on every outbound call, and the service's metrics.

``WALLETSTUB_APM_SERVER_URL`` turns it on (unset or empty: off, nothing is loaded or sent); the
token that authenticates to APM Server is read from the file ``WALLETSTUB_APM_SECRET_TOKEN_FILE``
names (in the cluster: a mounted Kubernetes secret, never an environment variable) or, for local
runs, taken from ``WALLETSTUB_APM_SECRET_TOKEN`` (see :func:`secret_token`). The agent always
verifies APM Server's certificate: against ``WALLETSTUB_APM_CA_FILE`` when set (the platform's
Private CA in the cluster), else against the system's public roots. The agent's own ``ELASTIC_APM_*``
variables still tune it (e.g. ``ELASTIC_APM_TRANSACTION_SAMPLE_RATE``, default
:data:`DEFAULT_SAMPLE_RATE`). The agent instruments asyncpg, redis and httpx itself; SQLAlchemy
statements (both backends; aiosqlite runs them in a thread the agent cannot follow) get their spans
from :func:`instrument_engine`, requests their transactions from :class:`ApmMiddleware`. Bodies and
headers are never captured: they may hold card numbers and keys. Breakdown metrics (time per span
type) are off: they cost every transaction, sampled or not, and the spans of sampled ones tell the
same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import elasticapm
from elasticapm.contrib.starlette import make_apm_client
from elasticapm.utils.disttracing import TraceParent
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from walletstubs.common.settings import PREFIX, SettingsError, env, env_optional
from walletstubs.common.telemetry import ASGIApp, Identity, Message, Receive, Scope, Send

_SPAN = "_walletstub_apm_span"
DEFAULT_SAMPLE_RATE = 0.1
"""Share of transactions recorded with their spans (every one is still counted, its errors captured and
its trace id passed on). Tracing every request costs a sub-millisecond read a third of its throughput
(``benchmarks/observability.py``); ``ELASTIC_APM_TRANSACTION_SAMPLE_RATE`` overrides it."""


def server_url() -> str:
    """APM Server's URL, or "" when APM is off."""
    return env("APM_SERVER_URL", "")


def secret_token() -> str | None:
    """The APM Server token: the content of ``WALLETSTUB_APM_SECRET_TOKEN_FILE`` (surrounding
    whitespace dropped), else ``WALLETSTUB_APM_SECRET_TOKEN``, else none. Setting both is refused.

    A named file that does not exist means no token: in the cluster the file is a Kubernetes secret
    volume, optional where operators own the token (an external APM Server, which may have none);
    where the program owns it, the kubelet starts no pod without it.
    """
    path = env_optional("APM_SECRET_TOKEN_FILE")
    value = env_optional("APM_SECRET_TOKEN")
    if path and value:
        raise SettingsError(
            f"set {PREFIX}APM_SECRET_TOKEN_FILE (a mounted secret) or {PREFIX}APM_SECRET_TOKEN "
            "(local runs), not both"
        )
    if not path:
        return value
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{PREFIX}APM_SECRET_TOKEN_FILE={path!r} cannot be read: {exc}") from exc
    return token or None


def agent_config(identity: Identity, url: str) -> dict[str, Any]:
    """The agent's settings for ``identity`` sending to ``url``: token, CA, sampling, privacy."""
    token = secret_token()
    ca_file = env_optional("APM_CA_FILE")
    return {
        "SERVICE_NAME": identity.name,
        "SERVICE_VERSION": identity.version,
        "ENVIRONMENT": identity.environment,
        "SERVER_URL": url,
        **({"SECRET_TOKEN": token} if token else {}),
        "VERIFY_SERVER_CERT": True,
        **({"SERVER_CA_CERT_FILE": ca_file} if ca_file else {}),
        "TRANSACTION_SAMPLE_RATE": DEFAULT_SAMPLE_RATE,
        "BREAKDOWN_METRICS": False,
        "CAPTURE_BODY": "off",
        "CAPTURE_HEADERS": False,
        "COLLECT_LOCAL_VARIABLES": "off",
        "SPAN_STACK_TRACE_MIN_DURATION": "-1ms",
        "USE_ELASTIC_TRACEPARENT_HEADER": False,
        "DISABLE_LOG_RECORD_FACTORY": True,
        "CENTRAL_CONFIG": False,
        "CLOUD_PROVIDER": "none",
        "PROMETHEUS_METRICS": True,
        "PROMETHEUS_METRICS_PREFIX": "walletstub.",
    }


def make_client(identity: Identity) -> elasticapm.Client | None:
    """The agent's client for this process when APM is on (``WALLETSTUB_APM_SERVER_URL`` set), else None."""
    url = server_url()
    if not url:
        return None
    existing = elasticapm.get_client()
    if existing is not None:
        return existing
    client = make_apm_client(agent_config(identity, url))
    elasticapm.instrument()
    return client


_TRACE_HEADERS = (b"traceparent", b"tracestate", b"elastic-apm-traceparent")
_UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})


class ApmMiddleware:
    """A transaction per request (probes excepted), continuing the caller's ``traceparent``, named by
    the matched route (``GET /v1/accounts/{account_id}``), its result and outcome from the status.

    Leaner than the agent's Starlette middleware, which matches every route again and reads the
    request for its context on each request: the services' requests are short enough for that to
    show."""

    def __init__(self, app: ASGIApp, *, client: elasticapm.Client) -> None:
        self.app = app
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _UNTRACED:
            await self.app(scope, receive, send)
            return
        headers = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope["headers"]
            if key.lower() in _TRACE_HEADERS
        }
        self.client.begin_transaction("request", trace_parent=TraceParent.from_headers(headers))
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception:
            self.client.capture_exception(handled=False)
            raise
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            elasticapm.set_transaction_name(f"{scope['method']} {route}", override=False)
            elasticapm.set_transaction_result(f"HTTP {status // 100}xx", override=False)
            elasticapm.set_transaction_outcome(http_status_code=status, override=False)
            self.client.end_transaction()


def instrument_engine(engine: AsyncEngine) -> None:
    """A ``db`` span per SQL statement of ``engine`` (none when no transaction is being traced)."""
    sync_engine = engine.sync_engine
    subtype = "postgresql" if engine.dialect.name == "postgresql" else engine.dialect.name

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        if elasticapm.get_transaction_id() is None:
            return
        span = elasticapm.capture_span(
            statement.split(None, 1)[0].upper() if statement.strip() else "SQL",
            span_type="db",
            span_subtype=subtype,
            span_action="query",
            extra={"db": {"type": "sql", "statement": statement[:10000]}},
            leaf=True,
        )
        span.__enter__()
        setattr(context, _SPAN, span)

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(_conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
        span = getattr(context, _SPAN, None)
        if span is not None:
            delattr(context, _SPAN)
            span.__exit__(None, None, None)

    @event.listens_for(sync_engine, "handle_error")
    def _error(exception_context: Any) -> None:
        context = exception_context.execution_context
        span = getattr(context, _SPAN, None) if context is not None else None
        if span is not None:
            delattr(context, _SPAN)
            error = exception_context.original_exception
            span.__exit__(type(error), error, error.__traceback__)
