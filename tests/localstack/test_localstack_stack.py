"""``walletops stack up|status|down`` on both backends: lifecycle, state folder, keys, gateway in front."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from walletstubs.localstack.processes import alive
from walletstubs.localstack.servers import free_port
from walletstubs.localstack.stack import LocalStack, StackError

PROJECT = Path(__file__).resolve().parents[2]
WALLETOPS = [sys.executable, "-m", "walletops.cli"]
CARD = "4111111111111111"


def _walletops(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    code = "from walletops.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state folder under /tmp: reachable by the unprivileged service accounts when we are root."""
    parent = Path(tempfile.mkdtemp(prefix="walletops-stack-", dir="/tmp"))
    parent.chmod(0o711)
    folder = parent / "stack"
    yield folder
    LocalStack(PROJECT, folder).down()
    shutil.rmtree(parent, ignore_errors=True)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _exercise(status: dict[str, Any]) -> None:
    """Through the gateway: keys are enforced, money moves, the operator sees a balanced ledger."""
    with httpx.Client(base_url=status["gateway_url"], timeout=30) as client:
        assert client.get("/v1/accounts/x").status_code == 401
        assert client.get("/v1/accounts/x", headers={"X-Api-Key": status["api_key"]}).status_code == 401
        key = {"X-Api-Key": status["api_key"], "Authorization": f"Bearer {status['token']}"}
        account = client.post(
            "/v1/accounts",
            json={"owner": "stack-test", "currency": "EUR"},
            headers=key | {"Idempotency-Key": str(uuid.uuid4())},
        )
        assert account.status_code == 201, account.text
        topup = client.post(
            "/v1/topups",
            json={"account": account.json()["id"], "amount": "10.00", "currency": "EUR"},
            headers=key | {"Idempotency-Key": str(uuid.uuid4())},
        )
        assert topup.status_code == 201, topup.text
        assert client.get(f"/v1/accounts/{account.json()['id']}", headers=key).json()["balance"] == "10.00"
        assert client.get("/v1/ledger/verify", headers=key).status_code == 403
        verify = client.get("/v1/ledger/verify", headers={"X-Api-Key": status["operator_api_key"]})
        assert verify.json()["balanced"] is True
        client.get(f"/v1/accounts/{CARD}", params={"api_key": "0123456789abcdef"}, headers=key)


def _ecs_problems() -> Any:
    """The ECS check of the service tests (tests/services/ecs_fields.py), loaded by path."""
    spec = importlib.util.spec_from_file_location(
        "ecs_fields", PROJECT / "tests" / "services" / "ecs_fields.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.problems


def _check_logs(status: dict[str, Any], state_dir: Path) -> None:
    """Every process wrote ECS NDJSON under <state>/logs, the gateway its access log among them."""
    problems = _ecs_problems()
    logs = state_dir / "logs"
    assert status["logs_dir"] == str(logs)
    assert {Path(path).name for path in status["log_files"]} >= {
        "wallet.ndjson",
        "roundups.ndjson",
        "gateway.ndjson",
    }
    for path in logs.glob("*.ndjson"):
        lines = [json.loads(text) for text in path.read_text().splitlines()]
        assert lines, f"{path} is empty"
        for line in lines:
            assert problems(line) == [], f"{path.name}: {line}"
            assert line["service"]["environment"] == "dev"
    for path in logs.glob("*.ndjson"):
        assert CARD not in path.read_text() and "0123456789abcdef" not in path.read_text(), path.name
    gateway = [json.loads(text) for text in (logs / "gateway.ndjson").read_text().splitlines()]
    assert any(line.get("url", {}).get("path") == "/v1/accounts/[masked-pan]" for line in gateway)
    access = [line for line in gateway if line["event"]["dataset"] == "walletops.access"]
    assert {line["http"]["response"]["status_code"] for line in access} >= {201, 401, 403}
    if status["backend"] == "embedded":  # the in-process gateway starts the trace the services continue
        started = {line["trace"]["id"] for line in access if line["http"]["response"]["status_code"] == 201}
        wallet = [json.loads(text) for text in (logs / "wallet.ndjson").read_text().splitlines()]
        assert started and started <= {line.get("trace", {}).get("id") for line in wallet}


def _lifecycle(state_dir: Path, backend: str, *extra: str) -> None:
    port = free_port()
    up = _walletops(
        "stack",
        "up",
        "--backend",
        backend,
        "--port",
        str(port),
        "--detach",
        "--state-dir",
        str(state_dir),
        *extra,
    )
    assert up.returncode == 0, up.stderr
    assert f"http://127.0.0.1:{port}" in up.stdout
    assert f"{state_dir / 'logs'}/<service>.ndjson" in up.stdout

    result = _walletops("stack", "status", "--format", "json", "--state-dir", str(state_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads(result.stdout)
    assert status["backend"] == backend and status["healthy"] is True
    assert status["gateway_url"] == f"http://127.0.0.1:{port}"
    names = {service["name"] for service in status["services"]}
    assert {"wallet", "roundups", "gateway"} <= names
    assert any(name.startswith("exchange-") for name in names)
    keys = json.loads((state_dir / "keys.json").read_text())
    assert status["api_key"] == keys["mobile-app"]
    assert status["operator_api_key"] == keys["operator"]
    assert status["loadtest_api_key"] == keys["loadtest"]
    assert status["token"] and status["loadtest_token"] and status["token_header"] == "Authorization: Bearer"
    assert _mode(state_dir / "keys.json") == 0o600
    assert _mode(state_dir) & 0o004 == 0
    assert all(_mode(child) & 0o077 == 0 for child in state_dir.iterdir() if child.is_dir())
    _exercise(status)
    _check_logs(status, state_dir)

    pids = [service["pid"] for service in status["services"]]
    down = _walletops("stack", "down", "--state-dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    if "--observability" in extra:
        said = " ".join(down.stderr.split())  # rich wraps long lines
        assert "shipping the logs to" in said and "walletops observability ship --from" in said
    assert (state_dir / "logs" / "wallet.ndjson").exists(), "unshipped logs stay for a later ship"
    assert not any(alive(pid) for pid in pids)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # the gateway port is free again
    again = _walletops("stack", "down", "--state-dir", str(state_dir))
    assert again.returncode == 0 and "nothing was running" in again.stdout
    after = _walletops("stack", "status", "--format", "json", "--state-dir", str(state_dir))
    assert after.returncode == 1
    assert json.loads(after.stdout)["running"] is False


@pytest.mark.slow
def test_embedded_stack_lifecycle(state_dir: Path) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    _lifecycle(state_dir, "embedded", "--observability", unreachable)
    assert list((state_dir / "services").glob("*.db")), (
        "embedded backend keeps SQLite files in the state folder"
    )


@pytest.mark.slow
@pytest.mark.service
def test_real_stack_lifecycle(state_dir: Path) -> None:
    _lifecycle(state_dir, "real")
    conf = (state_dir / "nginx" / "nginx.conf").read_text()
    assert "limit_req_zone" in conf
    assert (state_dir / "postgres" / "pgdata" / "PG_VERSION").read_text().strip() == "15"


def test_bad_input_exits_2_with_the_allowed_values(state_dir: Path) -> None:
    bad_backend = _walletops("stack", "up", "--backend", "docker", "--state-dir", str(state_dir))
    assert bad_backend.returncode == 2
    assert "--backend 'docker': allowed: embedded, real" in bad_backend.stderr
    low_port = _walletops("stack", "up", "--port", "80", "--state-dir", str(state_dir))
    assert low_port.returncode == 2 and "allowed: 1024-65535" in low_port.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        in_use = _walletops("stack", "up", "--port", str(taken), "--state-dir", str(state_dir))
    assert in_use.returncode == 2 and "already in use" in in_use.stderr
    bad_format = _walletops("stack", "status", "--format", "csv", "--state-dir", str(state_dir))
    assert bad_format.returncode == 2


def test_down_without_a_stack_is_a_no_op(state_dir: Path) -> None:
    assert LocalStack(PROJECT, state_dir).down() == []
    status = LocalStack(PROJECT, state_dir).status()
    assert status["running"] is False and status["services"] == []


def test_a_failed_start_stops_what_it_started(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import walletstubs.localstack.stack as module

    started: list[int] = []
    real_spawn = LocalStack._spawn

    def spawn_then_fail(self: LocalStack, name: str, *args: Any, **kwargs: Any) -> Any:
        sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
        port, _argv, _environ, account = args
        record = real_spawn(self, name, port, sleeper, dict(os.environ), account, **kwargs)
        started.append(record.pid)
        return record

    monkeypatch.setattr(module.LocalStack, "_spawn", spawn_then_fail)
    monkeypatch.setattr(module, "HEALTH_TIMEOUT_SECONDS", 1.0)
    stack = LocalStack(PROJECT, state_dir)
    with pytest.raises(StackError, match="not healthy"):
        stack.up("embedded", free_port())
    assert started and not any(alive(pid) for pid in started)
    assert stack.record() is None


def test_a_stopped_stack_ships_its_logs_once(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With an Elasticsearch URL recorded, stopping runs `walletops observability ship` on the logs
    folder and moves the shipped files aside; when shipping fails they stay for a later ship."""
    import walletops.cli_stack as cli

    stack = LocalStack(PROJECT, state_dir)
    stack.logs_dir.mkdir(parents=True)
    commands: list[list[str]] = []
    said: list[str] = []

    def record(url: str) -> None:
        (stack.logs_dir / "wallet.ndjson").write_text('{"message": "x"}\n')
        stack.record_file.write_text(
            json.dumps(
                {
                    "backend": "embedded",
                    "environment": "qa",
                    "gateway_port": 1,
                    "services": [],
                    "gateway": None,
                    "elasticsearch_url": url,
                }
            )
        )

    def ship(exit_code: int) -> Any:
        def run(command: list[str], **_kwargs: Any) -> subprocess.CompletedProcess[str]:
            commands.append(command)
            return subprocess.CompletedProcess(command, exit_code, "", "cluster unreachable")

        return run

    record("http://127.0.0.1:9200")
    monkeypatch.setattr(cli.subprocess, "run", ship(1))
    cli._stop_and_ship(stack, said.append)
    assert commands[-1][1:] == [
        "-m", "walletops", "observability", "ship", "--from", str(stack.logs_dir),
        "--url", "http://127.0.0.1:9200", "--env", "qa",
    ]  # fmt: skip
    assert stack.log_files() == [stack.logs_dir / "wallet.ndjson"], "a failed ship leaves the files"

    record("http://127.0.0.1:9200")
    monkeypatch.setattr(cli.subprocess, "run", ship(0))
    cli._stop_and_ship(stack, said.append)
    assert stack.log_files() == []
    [shipped] = list(stack.shipped_dir.iterdir())
    assert (shipped / "wallet.ndjson").read_text() == '{"message": "x"}\n'
    assert said == ["nothing was running", "nothing was running"]
