"""How each stub service runs as a local process: its name, port, command line and configuration.

The local stack runner and the service tests both launch the services through
:func:`service_processes`, so the two always agree on wiring. Every process is configured only
by ``WALLETSTUB_*`` environment variables (see :mod:`walletstubs.common.settings`) and binds to
``127.0.0.1``. Locally each exchange adapter talks to its simulated exchange on loopback instead
of the exchange's real ``base_url``; the simulated exchange checks the same generated credentials.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from contracts.config import ExchangeConfig

HOST = "127.0.0.1"
ENV_PREFIX = "WALLETSTUB_"
DEFAULT_ROUNDUP_THRESHOLD = "5.00"
TELEMETRY_VARIABLES = (
    f"{ENV_PREFIX}ENVIRONMENT",
    f"{ENV_PREFIX}APM_SERVER_URL",
    f"{ENV_PREFIX}APM_SECRET_TOKEN",
)


@dataclass(frozen=True)
class ServiceProcess:
    """One local service process and everything needed to start and probe it."""

    name: str
    port: int
    argv: list[str]
    env: dict[str, str]
    routed: bool
    health_path: str = "/healthz"

    @property
    def url(self) -> str:
        """Base URL of the service on loopback."""
        return f"http://{HOST}:{self.port}"

    def environ(self) -> dict[str, str]:
        """The environment to start the process with: ours (PATH, venv) minus stray WALLETSTUB_* vars, plus
        this service's configuration."""
        inherited = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
        return {**inherited, **self.env}


def service_names(exchanges: Sequence[ExchangeConfig]) -> list[str]:
    """Names of every local process for these exchanges, in start order (dependencies first)."""
    names = ["wallet"]
    names += [f"simexchange-{exchange.name}" for exchange in exchanges]
    names += [f"exchange-{exchange.name}" for exchange in exchanges]
    names.append("roundups")
    return names


def database_names(exchanges: Sequence[ExchangeConfig]) -> dict[str, str]:
    """Service name -> PostgreSQL database name, for every service that keeps state on the real backend."""
    services = ["wallet", "roundups"] + [f"exchange-{exchange.name}" for exchange in exchanges]
    return {service: service.replace("-", "_") for service in services}


def _sqlite_url(state_dir: Path, name: str) -> str:
    return f"sqlite+aiosqlite:///{(state_dir / f'{name}.db').resolve()}"


def _credentials_file(state_dir: Path, exchange: ExchangeConfig) -> Path:
    """The exchange's credentials (one value per configured secret name), generated once, mode 0600."""
    folder = state_dir / "credentials"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / f"{exchange.name}.json"
    current: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = {name: current.get(name) or secrets.token_urlsafe(24) for name in exchange.secrets}
    if wanted != current:
        path.touch(mode=0o600)
        path.write_text(json.dumps(wanted, indent=2) + "\n")
    path.chmod(0o600)
    return path


def service_processes(
    exchanges: Sequence[ExchangeConfig],
    *,
    ports: Mapping[str, int],
    state_dir: Path,
    database_urls: Mapping[str, str] | None = None,
    cache_url: str | None = None,
    workers: Mapping[str, int] | None = None,
    telemetry: Mapping[str, str] | None = None,
) -> list[ServiceProcess]:
    """Every process of the local stack, in start order.

    ``ports`` maps each name of :func:`service_names` to its port. ``database_urls`` maps
    ``wallet``, ``roundups`` and ``exchange-<name>`` to SQLAlchemy async URLs (PostgreSQL); when
    it is None each service gets an SQLite file under ``state_dir``. ``cache_url`` is a Redis URL,
    or None for an in-process cache in each service. ``workers`` gives a service several server
    processes (only with a shared cache: an in-process cache per worker would serve stale
    balances), their metrics aggregated in ``state_dir/metrics/<name>``. ``telemetry`` adds the
    ``WALLETSTUB_*`` variables of logs and APM (``ENVIRONMENT``, ``APM_SERVER_URL``,
    ``APM_SECRET_TOKEN``) to every service. Simulated exchanges always keep their own SQLite file:
    they stand in for a third party, not for our infrastructure.
    """
    unknown = sorted(set(telemetry or {}) - set(TELEMETRY_VARIABLES))
    if unknown:
        raise ValueError(
            f"telemetry: unknown variables {', '.join(unknown)}; allowed: {', '.join(TELEMETRY_VARIABLES)}"
        )
    names = service_names(exchanges)
    missing = [name for name in names if name not in ports]
    if missing:
        raise ValueError(f"no port given for {', '.join(missing)}; ports are needed for {', '.join(names)}")
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)

    def database(name: str) -> str:
        if database_urls is None:
            return _sqlite_url(state_dir, name)
        if name not in database_urls:
            raise ValueError(f"database_urls has no entry for {name!r}")
        return database_urls[name]

    def base_env(name: str) -> dict[str, str]:
        count = (workers or {}).get(name, 1)
        if count > 1 and cache_url is None:
            raise ValueError(
                f"{name}: {count} workers need a shared cache (Redis); the in-process one is per worker"
            )
        several = (
            {
                f"{ENV_PREFIX}WORKERS": str(count),
                "PROMETHEUS_MULTIPROC_DIR": str(state_dir / "metrics" / name),
            }
            if count > 1
            else {}
        )
        return (
            several
            | dict(telemetry or {})
            | {
                f"{ENV_PREFIX}SERVICE": name,
                f"{ENV_PREFIX}HOST": HOST,
                f"{ENV_PREFIX}PORT": str(ports[name]),
                f"{ENV_PREFIX}CACHE_URL": cache_url or "memory://",
                f"{ENV_PREFIX}LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )

    def url(name: str) -> str:
        return f"http://{HOST}:{ports[name]}"

    def argv(module: str) -> list[str]:
        return [sys.executable, "-m", f"walletstubs.{module}"]

    processes = [
        ServiceProcess(
            name="wallet",
            port=ports["wallet"],
            argv=argv("wallet"),
            env={**base_env("wallet"), f"{ENV_PREFIX}DATABASE_URL": database("wallet")},
            routed=True,
        )
    ]
    adapters: list[ServiceProcess] = []
    for exchange in exchanges:
        credentials = str(_credentials_file(state_dir, exchange))
        exchange_env = {
            f"{ENV_PREFIX}EXCHANGE_NAME": exchange.name,
            f"{ENV_PREFIX}EXCHANGE_KIND": exchange.kind,
            f"{ENV_PREFIX}EXCHANGE_CREDENTIALS_FILE": credentials,
        }
        sim = f"simexchange-{exchange.name}"
        processes.append(
            ServiceProcess(
                name=sim,
                port=ports[sim],
                argv=argv("simexchange"),
                env={
                    **base_env(sim),
                    **exchange_env,
                    f"{ENV_PREFIX}DATABASE_URL": _sqlite_url(state_dir, sim),
                    f"{ENV_PREFIX}CACHE_URL": "memory://",
                },
                routed=False,
            )
        )
        adapter = f"exchange-{exchange.name}"
        adapters.append(
            ServiceProcess(
                name=adapter,
                port=ports[adapter],
                argv=argv("exchange"),
                env={
                    **base_env(adapter),
                    **exchange_env,
                    f"{ENV_PREFIX}DATABASE_URL": database(adapter),
                    f"{ENV_PREFIX}WALLET_URL": url("wallet"),
                    f"{ENV_PREFIX}EXCHANGE_BASE_URL": url(sim),
                    f"{ENV_PREFIX}EXCHANGE_FEE_BPS": str(exchange.fee_bps),
                    f"{ENV_PREFIX}EXCHANGE_TIMEOUT_MS": str(exchange.timeout_ms),
                },
                routed=True,
            )
        )
    processes += adapters
    processes.append(
        ServiceProcess(
            name="roundups",
            port=ports["roundups"],
            argv=argv("roundups"),
            env={
                **base_env("roundups"),
                f"{ENV_PREFIX}DATABASE_URL": database("roundups"),
                f"{ENV_PREFIX}WALLET_URL": url("wallet"),
                f"{ENV_PREFIX}EXCHANGE_URLS": json.dumps(
                    {exchange.name: url(f"exchange-{exchange.name}") for exchange in exchanges}
                ),
                f"{ENV_PREFIX}ROUNDUP_THRESHOLD": DEFAULT_ROUNDUP_THRESHOLD,
            },
            routed=True,
        )
    )
    return processes
