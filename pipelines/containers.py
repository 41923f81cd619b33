"""Start pushed images as containers on this machine (podman with runc), to smoke-test what will ship.

Each image is pulled from the registry *by digest* into the pipeline's own storage, then run with
the host's network (it listens on loopback only), a read-only root file system, every capability
dropped, no privilege escalation, explicit ulimits, and its own unprivileged user. ``podman run``
stays in the foreground under our control; stopping it stops and removes the container.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipelines.images import ULIMITS, ImageError, Storage
from pipelines.registry import Registry

RUNTIME_FLAGS = ("--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "none")


@dataclass
class Container:
    """A running container: its name, the process that runs it, where it answers and its log."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def pull(storage: Storage, registry: Registry, reference: str) -> None:
    """Bring ``repo@sha256:…`` from the registry into the storage (verifying the digest on the way)."""
    storage.podman("pull", "--quiet", registry.tls_flag(), reference, timeout=600)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def running(
    storage: Storage,
    reference: str,
    *,
    name: str,
    port: int,
    env: Mapping[str, str],
    mounts: Sequence[Path] = (),
    logs: Path,
    timeout: float = 60,
) -> Iterator[Container]:
    """Run ``reference`` as ``name`` listening on 127.0.0.1:``port``; stop and remove it on exit."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    argv = [
        "podman",
        *storage.flags(),
        *RUNTIME_FLAGS,
        "run",
        "--rm",
        "--name",
        name,
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",  # noqa: S108 - a private tmpfs inside the container
        "--cap-drop",
        "all",
        "--security-opt",
        "no-new-privileges",
        *(arg for limit in ULIMITS for arg in ("--ulimit", limit)),
        *(arg for folder in mounts for arg in ("-v", f"{folder}:{folder}")),
        *(
            arg
            for key, value in sorted(
                {**env, "WALLETSTUB_HOST": "127.0.0.1", "WALLETSTUB_PORT": str(port)}.items()
            )
            for arg in ("-e", f"{key}={value}")
        ),
        reference,
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    container = Container(name, process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(container.url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-1500:]
                raise ImageError(f"{name} ({reference}) did not answer /healthz: {tail}")
            time.sleep(0.3)
        yield container
    finally:
        with contextlib.suppress(ImageError):
            storage.podman("stop", "--ignore", "--time", "5", name, timeout=60)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)
        with contextlib.suppress(ImageError):
            storage.podman("rm", "--ignore", "--force", name, timeout=60)
