"""testinfra checks of what really runs: loopback only, nginx enforcing the gateway spec, PostgreSQL
SCRAM + TLS, Redis protected mode + password, nothing as root, state not world-readable.

Run by ``walletops verify`` against the local real stack (started by the suite), or against pods with
``walletops verify --hosts kubectl://POD?namespace=wallet`` (see README.md in this folder).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from walletstubs.gateway.nginx import limits_from_config

from contracts.config import load_environment
from contracts.gateway_rules import effective_rules
from contracts.gateway_spec import load_gateway_spec

PROJECT = Path(__file__).resolve().parents[2]
LocalTarget = Any  # conftest.LocalTarget: state_dir, status, secrets of the running local stack
pytestmark = [pytest.mark.service, pytest.mark.xdist_group("verification")]
POD_PORT = 8080
"""The one port a service container listens on (services-stub/docker: EXPOSE 8080)."""


def _listeners(host) -> list[str]:  # type: ignore[no-untyped-def]
    return list(host.socket.get_listening_sockets())


def test_services_listen_on_loopback_only(host, local_stack: LocalTarget | None) -> None:  # type: ignore[no-untyped-def]
    listeners = _listeners(host)
    if local_stack is None:
        tcp_ports = {uri.rsplit(":", 1)[1] for uri in listeners if uri.startswith("tcp://")}
        assert tcp_ports <= {str(POD_PORT)}, f"pod listens on unexpected ports: {sorted(tcp_ports)}"
        return
    ports = [service["port"] for service in local_stack.status["services"]]
    ports += [int(server["url"].rsplit(":", 1)[1]) for server in local_stack.status["servers"]]
    assert len(ports) >= 8
    for port in ports:
        bound = [uri for uri in listeners if uri.endswith(f":{port}")]
        assert bound, f"nothing listens on port {port}"
        assert all(uri == f"tcp://127.0.0.1:{port}" for uri in bound), (
            f"port {port} is bound beyond loopback: {bound}"
        )


def test_nothing_of_the_stack_runs_as_root(host, local_stack: LocalTarget | None) -> None:  # type: ignore[no-untyped-def]
    if local_stack is None:
        users = {process.user for process in host.process.filter()}
        assert "root" not in users, f"processes run as root in the pod: {users}"
        return
    pids = [service["pid"] for service in local_stack.status["services"]]
    for pid_file in ("nginx/nginx.pid", "redis/redis.pid"):
        pids.append(int(host.file(str(local_stack.state_dir / pid_file)).content_string.strip()))
    postmaster = host.file(str(local_stack.state_dir / "postgres" / "pgdata" / "postmaster.pid"))
    pids.append(int(postmaster.content_string.splitlines()[0]))
    checked = []
    for pid in pids:
        leader = host.process.get(pid=pid)
        children = host.process.filter(ppid=pid)
        checked += [leader, *children]
    assert len(checked) > len(pids), "expected worker processes (nginx workers, postgres backends)"
    offenders = {(p.pid, p.comm) for p in checked if p.user == "root" or p.euid == 0}
    assert not offenders, f"running as root: {sorted(offenders)}"


def test_state_folders_are_not_world_readable(host, local: LocalTarget) -> None:  # type: ignore[no-untyped-def]
    state = shlex.quote(str(local.state_dir))
    listable = host.run(f"find {state} -type d -perm -o=r")
    assert listable.rc == 0 and listable.stdout.strip() == "", f"world-readable folders:\n{listable.stdout}"
    open_below = host.run(f"find {state} -mindepth 1 -type d -perm /077")
    assert open_below.rc == 0 and open_below.stdout.strip() == "", f"folders not 0700:\n{open_below.stdout}"
    assert host.file(str(local.state_dir)).mode & 0o066 == 0
    for name in ("keys.json", "secrets.json", "stack.json", "nginx/nginx.conf"):
        mode = host.file(str(local.state_dir / name)).mode
        assert mode == 0o600, f"{name} has mode {oct(mode)}"


def test_nginx_config_is_valid_and_enforces_the_gateway_spec(host, local: LocalTarget) -> None:  # type: ignore[no-untyped-def]
    root = local.state_dir / "nginx"
    check = host.run(
        "nginx -t -q -c %s -p %s -e %s", str(root / "nginx.conf"), str(root), str(root / "logs" / "error.log")
    )
    assert check.rc == 0, check.stderr
    rendered = limits_from_config(host.file(str(root / "nginx.conf")).content_string)
    env = load_environment(local.status["environment"], PROJECT)
    rules = effective_rules(load_gateway_spec(PROJECT), [exchange.name for exchange in env.exchanges])
    assert rendered.consumers == {
        c.name: {"rate_per_second": c.rate_per_second, "burst": c.burst, "quota_per_day": None}
        for c in rules.consumers
    }
    assert rendered.routes == {route.path_prefix: route.service for route in rules.routes}
    assert rendered.max_body_bytes == rules.max_body_bytes
    assert rendered.listen == (f"127.0.0.1:{local.status['gateway_url'].rsplit(':', 1)[1]}",)


def _psql(host, local: LocalTarget, sql: str, *, password: str | None, sslmode: str):  # type: ignore[no-untyped-def]
    port = next(s["url"] for s in local.status["servers"] if s["name"] == "postgres").rsplit(":", 1)[1]
    conninfo = (
        f"host=127.0.0.1 port={port} user=walletops dbname=postgres sslmode={sslmode} connect_timeout=5"
    )
    env = f"PGPASSWORD={shlex.quote(password)} " if password is not None else "PGPASSWORD= "
    return host.run(f"{env}psql -X -A -t -w {shlex.quote(conninfo)} -c {shlex.quote(sql)}")


def test_postgres_requires_scram_passwords_over_tls(host, local: LocalTarget) -> None:  # type: ignore[no-untyped-def]
    password = local.secrets["postgres"]
    own_ssl = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    ok = _psql(host, local, own_ssl, password=password, sslmode="require")
    assert ok.rc == 0, ok.stderr
    assert ok.stdout.strip() == "t"
    show = "SHOW password_encryption; SHOW ssl; SHOW listen_addresses"
    settings = _psql(host, local, show, password=password, sslmode="require")
    assert settings.stdout.split() == ["scram-sha-256", "on", "127.0.0.1"]
    no_password = _psql(host, local, "SELECT 1", password=None, sslmode="require")
    assert no_password.rc != 0 and "password" in no_password.stderr
    wrong = _psql(host, local, "SELECT 1", password=password + "x", sslmode="require")
    assert wrong.rc != 0 and "password authentication failed" in wrong.stderr
    plaintext = _psql(host, local, "SELECT 1", password=password, sslmode="disable")
    assert plaintext.rc != 0 and "no encryption" in plaintext.stderr
    hba = host.file(str(local.state_dir / "postgres" / "pgdata" / "pg_hba.conf")).content_string
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert rules and all(rule[0] == "hostssl" and rule[-1] == "scram-sha-256" for rule in rules)


def _redis(host, local: LocalTarget, *command: str, password: str | None):  # type: ignore[no-untyped-def]
    port = next(s["url"] for s in local.status["servers"] if s["name"] == "redis").rsplit(":", 1)[1]
    auth = f"REDISCLI_AUTH={shlex.quote(password)} " if password else ""
    return host.run(f"{auth}redis-cli -h 127.0.0.1 -p {port} --no-auth-warning {' '.join(command)}")


def test_redis_has_protected_mode_and_a_password(host, local: LocalTarget) -> None:  # type: ignore[no-untyped-def]
    anonymous = _redis(host, local, "PING", password=None)
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr
    wrong = _redis(host, local, "PING", password="not-the-password")
    assert "WRONGPASS" in wrong.stdout + wrong.stderr or "invalid password" in wrong.stdout + wrong.stderr
    password = local.secrets["redis"]
    assert _redis(host, local, "PING", password=password).stdout.strip() == "PONG"
    protected = _redis(host, local, "CONFIG", "GET", "protected-mode", password=password).stdout.split()
    assert protected == ["protected-mode", "yes"]
    bind = _redis(host, local, "CONFIG", "GET", "bind", password=password).stdout.split()
    assert bind == ["bind", "127.0.0.1"]
