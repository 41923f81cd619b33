"""Where a load test goes: the local stack (started and stopped around the run) or a URL.

A target outside loopback is refused unless explicitly allowed, so a typo cannot load someone
else's system. The local stack is driven through its Python API (``LocalStack``, the same object
behind ``walletops stack up|status|down``), which gives the gateway URL and the API keys; a
stack that was already running is used as is and left running.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from contracts.errors import UsageProblem

API_KEY_VARIABLE = "WALLETOPS_API_KEY"
OPERATOR_KEY_VARIABLE = "WALLETOPS_OPERATOR_API_KEY"
TOKEN_VARIABLE = "WALLETOPS_TOKEN"  # noqa: S105 -- the variable's name, not a token


@dataclass(frozen=True)
class Target:
    """A reachable gateway, the keys to use on it, and an end user's access token (public routes need
    one: ``Authorization: Bearer``)."""

    url: str
    api_key: str
    operator_key: str
    token: str = ""
    service_pids: dict[str, int] = field(default_factory=dict)
    """The local stack's service processes by name (their CPU is measured); empty for a URL."""


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
    """A URL target with keys from ``WALLETOPS_API_KEY`` / ``WALLETOPS_OPERATOR_API_KEY`` and an end
    user's access token from ``WALLETOPS_TOKEN``."""
    url = check_url(target, allow_remote=allow_remote)
    source = os.environ if environ is None else environ
    api_key = source.get(API_KEY_VARIABLE, "")
    if not api_key:
        raise UsageProblem(f"--target {url}: set {API_KEY_VARIABLE} to the gateway's load-test consumer key")
    return Target(
        url=url,
        api_key=api_key,
        operator_key=source.get(OPERATOR_KEY_VARIABLE, "") or api_key,
        token=source.get(TOKEN_VARIABLE, ""),
    )


@contextmanager
def local_stack(project_dir: Path, backend: str = "embedded", env: str = "dev") -> Iterator[Target]:
    """Start the local stack (unless one is up), yield its gateway and keys, stop it if we started it.

    Its state lives in ``<project>/.state/stack`` like ``walletops stack up``; the gateway takes a
    free loopback port so a run never collides with another stack on this machine.
    """
    from walletstubs.localstack.stack import LocalStack, StackError

    stack = LocalStack(project_dir, None, env)
    started = False
    if not stack.running():
        try:
            stack.up("real" if backend == "real" else "embedded", gateway_port=free_port())
        except StackError as exc:
            raise StackFailure(f"the local stack did not start: {exc}") from None
        started = True
    try:
        status = stack.status()
        if not status.get("healthy") or not status.get("gateway_url"):
            raise StackFailure(
                f"the local stack in {stack.state_dir} is not healthy; see walletops stack status"
            )
        api_key = str(status.get("loadtest_api_key") or "")
        operator_key = str(status.get("operator_api_key") or api_key)
        yield Target(
            url=str(status["gateway_url"]).rstrip("/"),
            api_key=api_key,
            operator_key=operator_key,
            token=str(status.get("loadtest_token") or ""),
            service_pids={
                str(s["name"]): int(s["pid"]) for s in status.get("services") or [] if s.get("pid")
            },
        )
    finally:
        if started:
            stack.down()


def free_port() -> int:
    """A currently free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
