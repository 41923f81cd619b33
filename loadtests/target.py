"""Where a load test goes: the local stack (started and stopped around the run) or a URL.

A target outside loopback is refused unless explicitly allowed, so a typo cannot load someone
else's system. The local stack is driven through its documented CLI contract (``walletops stack
up --detach``, ``stack status --format json``, ``stack down``), which gives the gateway URL and
the API keys; a stack that was already running is used as is and left running.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from walletops.project import UsageProblem

API_KEY_VARIABLE = "WALLETOPS_API_KEY"
OPERATOR_KEY_VARIABLE = "WALLETOPS_OPERATOR_API_KEY"
STACK_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Target:
    """A reachable gateway and the keys to use on it."""

    url: str
    api_key: str
    operator_key: str


class StackFailure(Exception):
    """The local stack could not be started or queried; the message says what it printed."""


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.0.0.0/8`` and ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(target: str, *, allow_remote: bool) -> str:
    """Validate a ``--target`` URL; a host outside loopback needs ``--allow-remote``."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageProblem(
            f"--target {target!r}: allowed: local, or an http(s) URL such as http://127.0.0.1:8080"
        )
    if not is_loopback(parts.hostname) and not allow_remote:
        raise UsageProblem(
            f"--target {target}: {parts.hostname} is not a loopback address; load-testing a remote system "
            "needs --allow-remote (a deliberate choice, so a typo cannot load someone else's system)"
        )
    return target.rstrip("/")


def url_target(target: str, *, allow_remote: bool, environ: dict[str, str] | None = None) -> Target:
    """A URL target with keys from ``WALLETOPS_API_KEY`` / ``WALLETOPS_OPERATOR_API_KEY``."""
    url = check_url(target, allow_remote=allow_remote)
    source = os.environ if environ is None else environ
    api_key = source.get(API_KEY_VARIABLE, "")
    if not api_key:
        raise UsageProblem(f"--target {url}: set {API_KEY_VARIABLE} to the gateway's load-test consumer key")
    return Target(url=url, api_key=api_key, operator_key=source.get(OPERATOR_KEY_VARIABLE, "") or api_key)


def _walletops(
    *args: str, project_dir: Path, timeout: float = STACK_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-c",
        "from walletops.cli import main; main()",
        *args,
        "--project-dir",
        str(project_dir),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def stack_status(project_dir: Path) -> dict[str, Any] | None:
    """``walletops stack status --format json``, or None when no stack is up."""
    result = _walletops("stack", "status", "--format", "json", project_dir=project_dir, timeout=60)
    if result.returncode != 0 or not result.stdout.strip():
        return None
    try:
        status: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        return None
    return status if status.get("gateway_url") and status.get("running", True) else None


@contextmanager
def local_stack(project_dir: Path, backend: str = "embedded") -> Iterator[Target]:
    """Start the local stack (unless one is up), yield its gateway and keys, stop it if we started it."""
    status = stack_status(project_dir)
    started = False
    if status is None:
        result = _walletops("stack", "up", "--backend", backend, "--detach", project_dir=project_dir)
        if result.returncode != 0:
            raise StackFailure(f"walletops stack up failed (exit {result.returncode}): {_tail(result)}")
        started = True
        status = stack_status(project_dir)
        if status is None:
            _walletops("stack", "down", project_dir=project_dir)
            raise StackFailure("walletops stack up returned but stack status reports no gateway_url")
    try:
        api_key = str(status.get("loadtest_api_key") or status.get("api_key") or "")
        operator_key = str(status.get("operator_api_key") or api_key)
        yield Target(url=str(status["gateway_url"]).rstrip("/"), api_key=api_key, operator_key=operator_key)
    finally:
        if started:
            _walletops("stack", "down", project_dir=project_dir)


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return " | ".join(lines[-5:]) or "no output"
