"""Real PostgreSQL 15 and Redis 7 from Debian's packages, run on loopback for the local stack and tests.

Each server keeps all of its state under one folder, listens on ``127.0.0.1`` only, requires a
password, and runs as its Debian system user (``postgres`` / ``redis``) when we are root, because
PostgreSQL refuses to run as root and a cache should not either. Servers are started and stopped
through their pid files, so a ``stack down`` in another process can stop what ``stack up`` started.
Anything that goes wrong raises :class:`ServerError` with the server's log tail: a missing binary
or a failed start is never silent.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS_SERVER = Path("/usr/bin/redis-server")
DB_USER = "walletops"
INSTALL_HINT = "install it with scripts/system-packages (as root)"


class ServerError(RuntimeError):
    """A local database/cache server could not be found, started or stopped."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return "(no log written)"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(text) or "(log is empty)"


def _require(binary: Path, what: str) -> None:
    if not os.access(binary, os.X_OK):
        raise ServerError(f"{what} not found at {binary}; {INSTALL_HINT}")


def _check_password(password: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.~-]{12,128}", password):
        raise ValueError("server password must be 12-128 characters from A-Z a-z 0-9 _ . ~ -")


class _RunAs:
    """The unprivileged account a server runs under when we are root (else: ourselves)."""

    def __init__(self, user: str) -> None:
        self.user: str | None = None
        self.uid = os.getuid()
        self.gid = os.getgid()
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(user)
            except KeyError as exc:
                raise ServerError(f"system user {user!r} does not exist; {INSTALL_HINT}") from exc
            self.user, self.uid, self.gid = user, entry.pw_uid, entry.pw_gid

    def own(self, path: Path, mode: int) -> None:
        """Give ``path`` to the server's user with ``mode`` (0700 for folders, 0600 for secrets)."""
        if self.user is not None:
            os.chown(path, self.uid, self.gid)
        path.chmod(mode)

    def check_reachable(self, folder: Path) -> None:
        """Fail early when a parent folder would stop the server's user from reaching its data."""
        if self.user is None:
            return
        for parent in folder.resolve().parents:
            mode = parent.stat().st_mode
            if not mode & 0o001 and parent.stat().st_uid != self.uid:
                raise ServerError(
                    f"{parent} is not searchable by user {self.user!r} (mode {oct(mode & 0o777)}); "
                    "put the data folder under a world-searchable path or chmod o+x that folder"
                )

    def run(
        self, argv: list[str], *, timeout: float, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> None:
        """Run ``argv`` as the server's user; a non-zero exit raises with its output."""
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs = {"user": self.uid, "group": self.gid, "extra_groups": []}
        try:
            proc = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                cwd="/",
                env=env,
                **kwargs,  # type: ignore[call-overload]
            )
        except subprocess.TimeoutExpired as exc:
            raise ServerError(f"{argv[0]} did not finish within {timeout:.0f}s") from exc
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip()
            raise ServerError(f"{' '.join(argv[:2])} failed with exit code {proc.returncode}: {output}")


class PostgresServer:
    """A PostgreSQL 15 cluster under ``data_dir``: TCP on 127.0.0.1 only, SCRAM passwords, TLS on.

    Layout of ``data_dir``: ``pgdata/`` (the cluster), ``postgres.log``. The superuser is
    ``walletops`` with ``password``; no Unix socket is opened, so every client, including our own
    admin calls, goes through password-authenticated (and, with ``ssl``, encrypted) TCP.
    """

    def __init__(self, data_dir: Path, port: int, password: str, ssl: bool = True) -> None:
        _check_password(password)
        self.data_dir = Path(data_dir)
        self.port = port
        self.password = password
        self.ssl = ssl
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.data_dir / "postgres.log"
        self._as = _RunAs("postgres")

    def _initdb(self) -> None:
        pwfile = self.data_dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._as.own(pwfile, 0o600)
        try:
            self._as.run(
                [
                    str(POSTGRES_BIN / "initdb"),
                    f"--pgdata={self.pgdata}",
                    f"--username={DB_USER}",
                    f"--pwfile={pwfile}",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if self.ssl:
            self._make_certificate()
        method = "hostssl" if self.ssl else "host"
        (self.pgdata / "pg_hba.conf").write_text(
            "# walletops local stack: password (SCRAM) over TCP on loopback only\n"
            f"{method} all all 127.0.0.1/32 scram-sha-256\n"
        )
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# walletops local stack\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "password_encryption = 'scram-sha-256'\n"
                f"ssl = {'on' if self.ssl else 'off'}\n"
                "max_connections = 200\n"
                "fsync = on\n"
            )

    def _make_certificate(self) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise ServerError("openssl not found; it is needed for the server's TLS certificate")
        key, cert = self.pgdata / "server.key", self.pgdata / "server.crt"
        proc = subprocess.run(
            [
                openssl,
                "req",
                "-new",
                "-x509",
                "-days",
                "825",
                "-nodes",
                "-newkey",
                "rsa:2048",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise ServerError(f"openssl could not make the TLS certificate: {proc.stderr.strip()}")
        self._as.own(key, 0o600)
        self._as.own(cert, 0o644)

    def start(self, timeout: float = 30) -> None:
        """Create the cluster on first use, then start it and wait until it accepts connections."""
        _require(POSTGRES_BIN / "postgres", "PostgreSQL 15")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._as.check_reachable(self.data_dir)
        self._as.own(self.data_dir, 0o700)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if self.log_file.exists():
            self._as.own(self.log_file, 0o600)
        try:
            self._as.run(
                [
                    str(POSTGRES_BIN / "pg_ctl"),
                    "start",
                    f"--pgdata={self.pgdata}",
                    f"--log={self.log_file}",
                    f"--options=-p {self.port}",
                    "--wait",
                    f"--timeout={max(1, int(timeout))}",
                ],
                timeout=timeout + 10,
            )
        except ServerError as exc:
            raise ServerError(
                f"PostgreSQL did not start on 127.0.0.1:{self.port}: {exc}\n{_log_tail(self.log_file)}"
            ) from exc
        self._wait_for_connections(timeout)

    def _psql(
        self, database: str, sql: str, *, variables: dict[str, str] | None = None, timeout: float = 30
    ) -> None:
        """Run ``sql`` (script text, psql variables allowed) as ``walletops`` over TLS on loopback."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PGPASSWORD": self.password,
            "PGSSLMODE": "require" if self.ssl else "disable",
            "PGCONNECT_TIMEOUT": "5",
        }
        self._as.run(
            [
                str(POSTGRES_BIN / "psql"),
                "--no-psqlrc",
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                "--host=127.0.0.1",
                f"--port={self.port}",
                f"--username={DB_USER}",
                f"--dbname={database}",
                *[f"--set={key}={value}" for key, value in (variables or {}).items()],
                "--file=-",
            ],
            timeout=timeout,
            env=env,
            stdin=sql,
        )

    def _wait_for_connections(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._psql("postgres", "SELECT 1", timeout=10)
                return
            except ServerError as exc:
                if time.monotonic() > deadline:
                    raise ServerError(
                        f"PostgreSQL on 127.0.0.1:{self.port} does not accept connections: {exc}\n"
                        f"{_log_tail(self.log_file)}"
                    ) from exc
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop the cluster (fast shutdown: open transactions roll back); a no-op when not running."""
        if not (self.pgdata / "postmaster.pid").exists():
            return
        try:
            self._as.run(
                [str(POSTGRES_BIN / "pg_ctl"), "stop", f"--pgdata={self.pgdata}", "--mode=fast", "--wait"],
                timeout=60,
            )
        except ServerError as exc:
            raise ServerError(f"PostgreSQL did not stop: {exc}\n{_log_tail(self.log_file)}") from exc

    def create_database(self, name: str) -> None:
        """Create database ``name`` owned by ``walletops``; a no-op when it already exists."""
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name {name!r} must be lower-case letters, digits and underscores")
        self._psql(
            "postgres",
            "SELECT format('CREATE DATABASE %I', :'name') "
            "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name')\\gexec\n",
            variables={"name": name},
        )

    def url(self, database: str) -> str:
        """SQLAlchemy async URL of ``database`` on this server."""
        return (
            f"postgresql+asyncpg://{DB_USER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{database}"
        )


class RedisServer:
    """A Redis 7 server under ``data_dir``: 127.0.0.1 only, protected mode, ``requirepass``.

    It is a cache: nothing is persisted (no RDB snapshots, no AOF), so a restart starts empty.
    """

    def __init__(self, data_dir: Path, port: int, password: str) -> None:
        _check_password(password)
        self.data_dir = Path(data_dir)
        self.port = port
        self.password = password
        self.conf_file = self.data_dir / "redis.conf"
        self.pid_file = self.data_dir / "redis.pid"
        self.log_file = self.data_dir / "redis.log"
        self._as = _RunAs("redis")
        self._process: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> None:
        self.conf_file.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    "protected-mode yes",
                    f"port {self.port}",
                    f'requirepass "{self.password}"',
                    "daemonize no",
                    f"pidfile {self.pid_file}",
                    f"logfile {self.log_file}",
                    f"dir {self.data_dir}",
                    'save ""',
                    "appendonly no",
                    "maxmemory 256mb",
                    "maxmemory-policy allkeys-lru",
                    "",
                ]
            )
        )
        self._as.own(self.conf_file, 0o600)

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                secret = self.password.encode()
                sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n*1\r\n$4\r\nPING\r\n" % (len(secret), secret))
                reply = b""
                while reply.count(b"\r\n") < 2:
                    chunk = sock.recv(256)
                    if not chunk:
                        break
                    reply += chunk
                return reply == b"+OK\r\n+PONG\r\n"
        except OSError:
            return False

    def start(self, timeout: float = 15) -> None:
        """Start the server and wait until it answers an authenticated PING."""
        _require(REDIS_SERVER, "Redis")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._as.check_reachable(self.data_dir)
        self._as.own(self.data_dir, 0o700)
        self._write_config()
        kwargs: dict[str, object] = {}
        if self._as.user is not None:
            kwargs = {"user": self._as.uid, "group": self._as.gid, "extra_groups": []}
        self._process = subprocess.Popen(
            [str(REDIS_SERVER), str(self.conf_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            start_new_session=True,
            **kwargs,  # type: ignore[call-overload]
        )
        deadline = time.monotonic() + timeout
        while not self._ping():
            if self._process.poll() is not None:
                raise ServerError(
                    f"Redis exited (code {self._process.returncode}) starting on 127.0.0.1:{self.port}\n"
                    f"{_log_tail(self.log_file)}"
                )
            if time.monotonic() > deadline:
                raise ServerError(
                    f"Redis on 127.0.0.1:{self.port} did not answer within {timeout:.0f}s\n"
                    f"{_log_tail(self.log_file)}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server via its pid file (works from another process too) and wait until it has exited;
        a no-op when not running."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid_file.unlink(missing_ok=True)
            return
        if self._process is not None and self._process.pid == pid:
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired as exc:
                raise ServerError(
                    f"Redis (pid {pid}) did not stop within 15s\n{_log_tail(self.log_file)}"
                ) from exc
            self.pid_file.unlink(missing_ok=True)
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                self.pid_file.unlink(missing_ok=True)
                return
            time.sleep(0.05)
        raise ServerError(f"Redis (pid {pid}) did not stop within 15s\n{_log_tail(self.log_file)}")

    def url(self, db: int = 0) -> str:
        """redis-py URL of database ``db`` on this server."""
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{db}"
