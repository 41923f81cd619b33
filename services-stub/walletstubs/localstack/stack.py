"""The local stack: every stub service as a local process behind the gateway, started and stopped as one.

Two backends:

* ``embedded`` -- SQLite files, each service's in-process cache, and the in-process gateway
  (:mod:`walletstubs.gateway.app`) as its own process. Needs nothing beyond the Python environment.
* ``real`` -- PostgreSQL 15 (SCRAM + TLS), Redis 7 (protected mode + password) and nginx from
  Debian's packages, all on loopback, schema migrations applied by each service at start-up.

Everything lives under one state folder (default ``<project>/.state/stack``)::

    stack.json          what runs: backend, ports, pids (0600)
    keys.json           one generated API key per gateway consumer (0600, reused across runs)
    secrets.json        PostgreSQL/Redis passwords (0600; the cluster keeps its password)
    logs/<name>.ndjson  ECS JSON logs per service and the gateway (what `walletops observability ship`
                        sends; shipped files move to shipped/<time>/)
    jwt/                the end-user token issuer's RS256 keys (private key 0600; JWKS and SPKI public)
    services/           SQLite files and exchange credentials of the services
    gateway/ nginx/ postgres/ redis/

When we are root, services and nginx run as the ``walletops`` system user and the databases as
their Debian users, so no process of the stack runs as root; the state folder itself is then 0711
(those users must traverse it, nobody can list it) and every folder below it 0700.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from contracts.config import ExchangeConfig, load_environment
from contracts.gateway_rules import EffectiveRules, effective_rules
from contracts.gateway_spec import load_gateway_spec
from walletstubs.gateway.app import GatewaySettings
from walletstubs.gateway.jwt import PRIVATE_KEY_FILE, TokenIssuer, read_jwks, read_spki, write_keys
from walletstubs.gateway.nginx import JS_MODULE, NginxJwt, NginxPaths, render_jwt_script, render_nginx
from walletstubs.localstack.nginx import NginxServer
from walletstubs.localstack.processes import alive, stop_group
from walletstubs.localstack.servers import PostgresServer, RedisServer, free_port
from walletstubs.localstack.topology import database_names, service_names, service_processes
from walletstubs.localstack.users import RunAs, service_account

Backend = Literal["embedded", "real"]
BACKENDS: tuple[Backend, ...] = ("embedded", "real")
DEFAULT_STATE = Path(".state") / "stack"
DEV_CONSUMER = "mobile-app"
OPERATOR_CONSUMER = "operator"
LOADTEST_CONSUMER = "loadtest"
HEALTH_TIMEOUT_SECONDS = 90.0


class StackError(RuntimeError):
    """The stack could not start or stop; the message says which part and shows its log tail."""


@dataclass
class ProcessRecord:
    """One process the stack started: where it listens, its pid and log."""

    name: str
    port: int
    pid: int
    log: str
    routed: bool
    health_path: str = "/healthz"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class StackRecord:
    """The content of ``stack.json``: enough for ``status`` and ``down`` from another process."""

    backend: Backend
    environment: str
    gateway_port: int
    services: list[ProcessRecord] = field(default_factory=list)
    gateway: ProcessRecord | None = None
    postgres_port: int | None = None
    redis_port: int | None = None
    started_at: float = field(default_factory=time.time)
    apm_url: str | None = None
    elasticsearch_url: str | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> StackRecord:
        data = json.loads(text)
        gateway = data.pop("gateway")
        services = data.pop("services")
        return cls(
            **data,
            services=[ProcessRecord(**s) for s in services],
            gateway=ProcessRecord(**gateway) if gateway else None,
        )


def _write_secret(path: Path, text: str, owner: RunAs | None = None) -> None:
    """Write ``text`` to ``path`` created 0600 (never briefly world-readable)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    if owner is not None:
        owner.own(path, 0o600)


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty log)"
    except FileNotFoundError:
        return "(no log written)"


class LocalStack:
    """The stack whose state lives in ``state_dir``; ``project_dir`` holds the spec and env config."""

    def __init__(self, project_dir: Path, state_dir: Path | None = None, environment: str = "dev") -> None:
        self.project_dir = Path(project_dir).resolve()
        self.state_dir = Path(state_dir).resolve() if state_dir else self.project_dir / DEFAULT_STATE
        self.environment = environment
        self.record_file = self.state_dir / "stack.json"
        self.keys_file = self.state_dir / "keys.json"
        self.secrets_file = self.state_dir / "secrets.json"
        self.logs_dir = self.state_dir / "logs"
        self.shipped_dir = self.state_dir / "shipped"
        self.jwt_dir = self.state_dir / "jwt"

    @property
    def issuer(self) -> str:
        """The ``iss`` of the stack's end-user tokens (Cognito's shape: an https URL per user pool)."""
        return f"https://cognito-idp.localhost/walletops-{self.environment}"

    def token(self, consumer: str, subject: str = "dev-user", ttl_seconds: int = 86400) -> str | None:
        """An end-user access token issued to ``consumer``'s app client (None before the first ``up``)."""
        if not (self.jwt_dir / PRIVATE_KEY_FILE).exists():
            return None
        rules = effective_rules(load_gateway_spec(self.project_dir), [])
        issuer = TokenIssuer(self.jwt_dir, self.issuer)
        return issuer.token(subject, client_id=consumer, scopes=[rules.oauth_scope], ttl_seconds=ttl_seconds)

    # ----- state files

    def record(self) -> StackRecord | None:
        """What ``stack.json`` says runs (None when no stack was started here)."""
        try:
            return StackRecord.from_json(self.record_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def keys(self) -> dict[str, str]:
        """consumer → API key, as generated by ``up`` (empty before the first ``up``)."""
        try:
            return dict(json.loads(self.keys_file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {}

    def _ensure_keys(self, rules: EffectiveRules) -> dict[str, str]:
        keys = self.keys()
        wanted = {c.name: keys.get(c.name) or secrets.token_urlsafe(32) for c in rules.consumers}
        if wanted != keys:
            _write_secret(self.keys_file, json.dumps(wanted, indent=2, sort_keys=True) + "\n")
        return wanted

    def _secret(self, name: str) -> str:
        try:
            stored: dict[str, str] = json.loads(self.secrets_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            stored = {}
        if name not in stored:
            stored[name] = secrets.token_urlsafe(24)
            _write_secret(self.secrets_file, json.dumps(stored, indent=2, sort_keys=True) + "\n")
        return stored[name]

    def _prepare_folders(self, account: RunAs) -> None:
        self.state_dir.parent.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(exist_ok=True)
        self.state_dir.chmod(0o711 if account.user is not None else 0o700)
        (self.state_dir / "pids").mkdir(exist_ok=True)
        (self.state_dir / "pids").chmod(0o700)
        self.logs_dir.mkdir(exist_ok=True)
        account.own(self.logs_dir, 0o700)  # nginx, running as the account, opens its access log there
        for folder in (self.state_dir / "services", self.state_dir / "gateway"):
            folder.mkdir(exist_ok=True)
            account.own(folder, 0o700)
            for child in folder.rglob("*"):
                account.own(child, 0o700 if child.is_dir() else 0o600)

    # ----- lifecycle

    def running(self) -> bool:
        """True when any process recorded in ``stack.json`` is still alive."""
        record = self.record()
        if record is None:
            return False
        pids = [p.pid for p in record.services] + ([record.gateway.pid] if record.gateway else [])
        return any(alive(pid) for pid in pids)

    def dead(self) -> list[str]:
        """Names of recorded processes that are no longer running."""
        record = self.record()
        if record is None:
            return []
        processes = list(record.services) + ([record.gateway] if record.gateway else [])
        return [p.name for p in processes if not alive(p.pid)]

    def up(
        self,
        backend: Backend = "embedded",
        gateway_port: int = 8080,
        progress: Callable[[str], None] = lambda _message: None,
        *,
        apm_url: str | None = None,
        apm_token: str | None = None,
        elasticsearch_url: str | None = None,
    ) -> StackRecord:
        """Start the stack and return once every service and the gateway pass their health checks.

        Every process writes ECS NDJSON to ``logs/<name>.ndjson``. ``apm_url`` (APM Server, with its
        ``apm_token``) turns APM on in every service; ``elasticsearch_url`` is only recorded, for
        whoever ships the log files (``walletops stack`` does when the stack stops).
        On any failure everything already started is stopped again and :class:`StackError` raised.
        """
        for name, url in (("APM", apm_url), ("Elasticsearch", elasticsearch_url)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise ValueError(f"{name} URL {url!r}: must start with http:// or https://")
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r}: allowed: {', '.join(BACKENDS)}")
        if self.running():
            raise StackError(f"a stack is already running from {self.state_dir}; run `walletops stack down`")
        env = load_environment(self.environment, self.project_dir)
        rules = effective_rules(load_gateway_spec(self.project_dir), [e.name for e in env.exchanges])
        account = service_account()
        self._prepare_folders(account)
        keys = self._ensure_keys(rules)
        write_keys(self.jwt_dir)
        self.jwt_dir.chmod(0o700)
        record = StackRecord(
            backend=backend,
            environment=self.environment,
            gateway_port=gateway_port,
            apm_url=apm_url,
            elasticsearch_url=elasticsearch_url,
        )
        self._save(record)
        telemetry = {"WALLETSTUB_ENVIRONMENT": self.environment}
        if apm_url:
            telemetry["WALLETSTUB_APM_SERVER_URL"] = apm_url
            if apm_token:
                telemetry["WALLETSTUB_APM_SECRET_TOKEN"] = apm_token
        try:
            self._start_all(
                record,
                telemetry=telemetry,
                exchanges=env.exchanges,
                rules=rules,
                keys=keys,
                account=account,
                progress=progress,
                wallet_workers=env.services.wallet.workers,
            )
        except BaseException:
            self.down()
            raise
        return record

    def _start_all(
        self,
        record: StackRecord,
        *,
        exchanges: Sequence[ExchangeConfig],
        rules: EffectiveRules,
        keys: dict[str, str],
        account: RunAs,
        progress: Callable[[str], None],
        wallet_workers: int,
        telemetry: dict[str, str],
    ) -> None:
        database_urls: dict[str, str] | None = None
        cache_url: str | None = None
        if record.backend == "real":
            self._install_system_packages(progress)
            record.postgres_port, record.redis_port = free_port(), free_port()
            self._save(record)
            progress(f"PostgreSQL 15 on 127.0.0.1:{record.postgres_port}")
            postgres = self._postgres(record.postgres_port)
            postgres.start()
            database_urls = {}
            for service, database in database_names(exchanges).items():
                postgres.create_database(database)
                database_urls[service] = postgres.url(database)
            progress(f"Redis 7 on 127.0.0.1:{record.redis_port}")
            redis = self._redis(record.redis_port)
            redis.start()
            cache_url = redis.url()
        ports = {name: free_port() for name in service_names(exchanges)}
        processes = service_processes(
            exchanges,
            ports=ports,
            state_dir=self.state_dir / "services",
            database_urls=database_urls,
            cache_url=cache_url,
            workers={"wallet": wallet_workers} if cache_url else None,
            telemetry=telemetry,
        )
        self._prepare_folders(account)  # credentials written by service_processes go to the service user
        for process in processes:
            progress(f"{process.name} on {process.url}")
            spawned = self._spawn(
                process.name,
                process.port,
                process.argv,
                process.environ(),
                account,
                routed=process.routed,
                health_path=process.health_path,
            )
            record.services.append(spawned)
            self._save(record)
        for started in record.services:
            self._wait_healthy(started)
        upstreams = {p.name: p.port for p in processes if p.routed}
        progress(f"gateway ({'nginx' if record.backend == 'real' else 'in-process'}) on {record.gateway_url}")
        record.gateway = self._start_gateway(record, rules, keys, upstreams, account)
        self._save(record)
        self._wait_healthy(record.gateway)

    def _install_system_packages(self, progress: Callable[[str], None]) -> None:
        needed = [
            b
            for b in ("/usr/lib/postgresql/15/bin/postgres", "/usr/bin/redis-server")
            if not Path(b).exists()
        ]
        if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
            needed.append("nginx")
        if not Path(JS_MODULE).exists():
            needed.append("libnginx-mod-http-js")
        if not needed:
            return
        script = self.project_dir / "scripts" / "system-packages"
        progress(f"installing Debian packages with {script}")
        proc = subprocess.run([str(script)], capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0:
            raise StackError(f"{script} failed ({proc.returncode}): {(proc.stdout + proc.stderr).strip()}")

    def _postgres(self, port: int) -> PostgresServer:
        return PostgresServer(self.state_dir / "postgres", port, self._secret("postgres"), ssl=True)

    def _redis(self, port: int) -> RedisServer:
        return RedisServer(self.state_dir / "redis", port, self._secret("redis"))

    def _spawn(
        self,
        name: str,
        port: int,
        argv: list[str],
        environ: dict[str, str],
        account: RunAs,
        *,
        routed: bool,
        health_path: str = "/healthz",
    ) -> ProcessRecord:
        argv, environ = self._runnable(argv, environ, account)
        if account.user is not None:
            home = str(self.state_dir / "services")
            environ = environ | {"HOME": home, "USER": account.user, "LOGNAME": account.user}
        log = self.logs_dir / f"{name}.ndjson"
        with log.open("ab") as out:
            log.chmod(0o600)
            proc = subprocess.Popen(
                argv,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir / "services",
                start_new_session=True,
                umask=0o077,
                **account.popen_kwargs(),  # type: ignore[call-overload]
            )
        (self.state_dir / "pids" / f"{name}.pid").write_text(f"{proc.pid}\n")
        return ProcessRecord(
            name=name, port=port, pid=proc.pid, log=str(log), routed=routed, health_path=health_path
        )

    def _runnable(
        self, argv: list[str], environ: dict[str, str], account: RunAs
    ) -> tuple[list[str], dict[str, str]]:
        """Swap our interpreter for the system one when the service account cannot execute ours.

        A Python installed under root's home (pyenv) is out of reach for ``walletops``; the system
        ``python3.X`` of the same version runs the same code with the venv's packages on its path.
        """
        if account.user is None or argv[0] != sys.executable or _reachable(Path(sys.executable)):
            return argv, environ
        system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
        if not _reachable(system):
            raise StackError(
                f"{sys.executable} is not executable by user {account.user!r} and {system} is missing; "
                "install python3 from Debian or use a world-executable Python for the venv"
            )
        paths = sysconfig.get_paths()
        python_path = [
            paths["purelib"],
            paths["platlib"],
            str(self.project_dir),
            str(self.project_dir / "services-stub"),
        ]
        for folder in python_path:
            blocked = _unsearchable_parent(Path(folder))
            if blocked is not None:
                raise StackError(
                    f"user {account.user!r} cannot read {folder}: other users may not enter or list "
                    f"{blocked} (mode {blocked.stat().st_mode & 0o777:o}); run from a folder others may "
                    f"read, or `chmod o+{'rx' if blocked == Path(folder).resolve() else 'x'} {blocked}`"
                )
        return [str(system), *argv[1:]], environ | {"PYTHONPATH": os.pathsep.join(dict.fromkeys(python_path))}

    def _start_gateway(
        self,
        record: StackRecord,
        rules: EffectiveRules,
        keys: dict[str, str],
        upstreams: dict[str, int],
        account: RunAs,
    ) -> ProcessRecord:
        if record.backend == "real":
            root = self.state_dir / "nginx"
            conf = render_nginx(
                rules,
                keys=keys,
                upstreams=upstreams,
                listen_port=record.gateway_port,
                paths=NginxPaths(root, self.logs_dir / "gateway.ndjson"),
                environment=self.environment,
            )
            script = render_jwt_script(rules, NginxJwt(issuer=self.issuer, keys=read_spki(self.jwt_dir)))
            server = NginxServer(root, conf, record.gateway_port, run_as=account, script_text=script)
            pid = server.start()
            return ProcessRecord(
                name="gateway",
                port=record.gateway_port,
                pid=pid,
                log=str(server.paths.access_log),
                routed=False,
            )
        settings_file = self.state_dir / "gateway" / "settings.json"
        settings = GatewaySettings(
            rules=rules,
            keys=keys,
            upstreams={name: f"http://127.0.0.1:{port}" for name, port in upstreams.items()},
            port=record.gateway_port,
            jwks=read_jwks(self.jwt_dir),
            issuer=self.issuer,
        )
        _write_secret(settings_file, settings.to_json(), owner=account)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETSTUB_")}
        argv = [
            sys.executable,
            "-m",
            "walletstubs.gateway",
            str(settings_file),
            "--environment",
            self.environment,
        ]
        return self._spawn("gateway", record.gateway_port, argv, env, account, routed=False)

    def _wait_healthy(self, process: ProcessRecord, timeout: float | None = None) -> None:
        timeout = HEALTH_TIMEOUT_SECONDS if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(process.pid):
                raise StackError(f"{process.name} exited during start-up; log {process.log}:\n"
                                 f"{_log_tail(Path(process.log))}")  # fmt: skip
            if _healthy(process):
                return
            time.sleep(0.2)
        probe = f"{process.url}{process.health_path}"
        raise StackError(f"{process.name} not healthy on {probe} after {timeout:.0f}s; log {process.log}:\n"
                         f"{_log_tail(Path(process.log))}")  # fmt: skip

    def _save(self, record: StackRecord) -> None:
        _write_secret(self.record_file, record.to_json())

    def down(self) -> list[str]:
        """Stop everything recorded (gateway first, databases last); idempotent. Returns what was stopped."""
        record = self.record()
        stopped: list[str] = []
        if record is not None:
            for process in ([record.gateway] if record.gateway else []) + list(reversed(record.services)):
                if stop_group(process.pid):
                    stopped.append(process.name)
                (self.state_dir / "pids" / f"{process.name}.pid").unlink(missing_ok=True)
        if (self.state_dir / "nginx" / "nginx.pid").exists():
            root = self.state_dir / "nginx"
            server = NginxServer(root, "", 0, run_as=RunAs(None, os.getuid(), os.getgid()), script_text="")
            if server.pid() is not None:
                server.stop()
                stopped.append("nginx")
        redis_pid = self.state_dir / "redis" / "redis.pid"
        if redis_pid.exists():
            try:
                pid = int(redis_pid.read_text().strip())
            except ValueError:
                pid = 0
            if pid and stop_group(pid):
                stopped.append("redis")
            redis_pid.unlink(missing_ok=True)
        if (
            self.state_dir / "postgres" / "pgdata" / "postmaster.pid"
        ).exists() and self.secrets_file.exists():
            self._postgres(record.postgres_port if record and record.postgres_port else 0).stop()
            stopped.append("postgres")
        self.record_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> dict[str, Any]:
        """The stack as scripts and load tests see it (``stack status --format json``)."""
        record = self.record()
        keys = self.keys()
        base: dict[str, Any] = {
            "state_dir": str(self.state_dir),
            "api_key": keys.get(DEV_CONSUMER),
            "operator_api_key": keys.get(OPERATOR_CONSUMER),
            "loadtest_api_key": keys.get(LOADTEST_CONSUMER),
            "api_key_header": "X-Api-Key",
            "token": self.token(DEV_CONSUMER),
            "loadtest_token": self.token(LOADTEST_CONSUMER, "loadtest-user"),
            "token_header": "Authorization: Bearer",
            "logs_dir": str(self.logs_dir),
            "log_files": [str(path) for path in self.log_files()],
        }
        if record is None:
            return base | {
                "running": False,
                "healthy": False,
                "backend": None,
                "gateway_url": None,
                "services": [],
            }
        processes = list(record.services) + ([record.gateway] if record.gateway else [])
        services = [
            {
                "name": p.name,
                "url": p.url,
                "port": p.port,
                "pid": p.pid,
                "routed": p.routed,
                "log": p.log,
                "state": ("healthy" if _healthy(p) else "unhealthy") if alive(p.pid) else "stopped",
            }
            for p in processes
        ]
        servers = [
            {"name": name, "url": f"127.0.0.1:{port}"}
            for name, port in (("postgres", record.postgres_port), ("redis", record.redis_port))
            if port
        ]
        return base | {
            "running": any(s["state"] != "stopped" for s in services),
            "healthy": bool(services) and all(s["state"] == "healthy" for s in services),
            "backend": record.backend,
            "environment": record.environment,
            "gateway_url": record.gateway_url,
            "services": services,
            "servers": servers,
            "apm_url": record.apm_url,
            "elasticsearch_url": record.elasticsearch_url,
        }

    def log_files(self) -> list[Path]:
        """The ECS NDJSON log files not shipped yet (one per service and the gateway)."""
        return sorted(self.logs_dir.glob("*.ndjson")) if self.logs_dir.is_dir() else []

    def archive_logs(self) -> Path | None:
        """Move the log files (once shipped, with the stack stopped) to ``shipped/<UTC time>/``, so a
        later ship never sends a line twice; the folder, or None when there was nothing to move."""
        files = self.log_files()
        if not files:
            return None
        folder = self.shipped_dir / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        folder.mkdir(parents=True, exist_ok=True)
        for path in files:
            path.rename(folder / path.name)
        return folder


def _reachable(binary: Path) -> bool:
    """True when any user may execute ``binary`` (every parent folder searchable by others)."""
    try:
        real = binary.resolve(strict=True)
    except FileNotFoundError:
        return False
    return bool(real.stat().st_mode & 0o001) and all(p.stat().st_mode & 0o001 for p in real.parents)


def _unsearchable_parent(folder: Path) -> Path | None:
    """The outermost folder on the way to ``folder`` that other users cannot enter, or ``folder``
    itself when they cannot list it (Python's importer lists every folder on its path)."""
    real = folder.resolve()
    for candidate in real.parents[::-1]:
        if not candidate.stat().st_mode & 0o001:
            return candidate
    return None if real.stat().st_mode & 0o005 == 0o005 else real


def _healthy(process: ProcessRecord) -> bool:
    try:
        return httpx.get(f"{process.url}{process.health_path}", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
