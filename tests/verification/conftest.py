"""The target of the verification suite: the local real stack (default) or hosts given with ``--hosts``.

Without ``--hosts`` (or with ``local://``) the suite starts the real local stack -- PostgreSQL, Redis,
nginx and the services -- in a fresh state folder under /tmp, verifies it and stops it. To verify a
stack that already runs, set ``WALLETOPS_VERIFY_STATE_DIR`` (``walletops verify --state-dir`` does).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from walletstubs.localstack.servers import free_port
from walletstubs.localstack.stack import LocalStack

PROJECT = Path(__file__).resolve().parents[2]
STATE_ENV = "WALLETOPS_VERIFY_STATE_DIR"


@dataclass(frozen=True)
class LocalTarget:
    """The running local real stack: its state folder and ``stack status`` report."""

    state_dir: Path
    status: dict[str, Any]
    secrets: dict[str, str]


def _is_local(config: pytest.Config) -> bool:
    hosts = config.getoption("hosts", default=None) or ""
    return all(uri.strip() in ("", "local://") for uri in str(hosts).split(","))


@pytest.fixture(scope="session")
def local_stack(request: pytest.FixtureRequest) -> Iterator[LocalTarget | None]:
    """The local real stack (started here unless ``WALLETOPS_VERIFY_STATE_DIR`` names a running one);
    None when the suite targets remote hosts."""
    if not _is_local(request.config):
        yield None
        return
    import json

    given = os.environ.get(STATE_ENV)
    if given:
        stack = LocalStack(PROJECT, Path(given))
        status = stack.status()
        if not status["healthy"] or status["backend"] != "real":
            raise RuntimeError(f"{STATE_ENV}={given}: no healthy real-backend stack runs there")
        yield LocalTarget(stack.state_dir, status, json.loads(stack.secrets_file.read_text()))
        return
    parent = Path(tempfile.mkdtemp(prefix="walletops-verify-", dir="/tmp"))
    parent.chmod(0o711)
    stack = LocalStack(PROJECT, parent / "stack")
    try:
        stack.up("real", free_port())
        yield LocalTarget(stack.state_dir, stack.status(), json.loads(stack.secrets_file.read_text()))
    finally:
        stack.down()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def local(local_stack: LocalTarget | None) -> LocalTarget:
    """Checks of the local stack's own servers: in a cluster, managed RDS/ElastiCache and the AWS
    gateway replace PostgreSQL, Redis and nginx, and ``walletops audit`` checks those instead."""
    if local_stack is None:
        pytest.skip("checks the local stack's own PostgreSQL/Redis/nginx; remote hosts run the other checks")
    return local_stack
