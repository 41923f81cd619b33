"""Benchmark of the image path: base image, wheels, one service image, push, promotion copy, container start.

    .venv/bin/python -m benchmarks.pipeline [--cold] [--service wallet]

Runs in a temporary workspace with its own container storage and loopback registry. ``--cold``
uses an empty content cache, so the base tarball (mmdebstrap) and the wheels are made again;
without it they come from ``$WALLETOPS_CACHE`` when present. Prints the seconds of each part;
asserts nothing. Stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from contracts.project import find_project_dir
from pipelines.containers import pull, running
from pipelines.images import REQUIREMENTS, BaseImageSpec, BuildInputs, base_image, build, wheels
from pipelines.registry import LoopbackRegistry
from pipelines.workspace import Workspace, cache_dir

T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cold", action="store_true", help="Empty content cache: mmdebstrap and wheels again."
    )
    parser.add_argument("--service", default="wallet")
    args = parser.parse_args()
    root = find_project_dir()
    with tempfile.TemporaryDirectory(prefix="walletops-bench-pipeline-") as tmp:
        cache = Path(tmp) / "cache" if args.cold else cache_dir() / "images"
        workspace = Workspace(root, Path(tmp) / "state", cache)
        storage = workspace.storage
        figures: list[tuple[str, float]] = []

        def timed(name: str, action: Callable[[], T]) -> T:
            started = time.monotonic()
            value = action()
            figures.append((name, time.monotonic() - started))
            return value

        registry_folder = LoopbackRegistry(workspace.state / "registry")
        try:
            registry = timed("registry start", registry_folder.start)
            spec = BaseImageSpec()
            image, _ = timed("base image (mmdebstrap + import)", lambda: base_image(storage, cache, spec))
            wheel_dir = timed("wheels (pip download)", lambda: wheels(root / REQUIREMENTS, cache))
            tag = f"localhost/walletops/{args.service}:bench"
            inputs = BuildInputs(root, args.service, image, wheel_dir, tag)
            timed(
                f"image {args.service} (buildah, no network)",
                lambda: build(storage, inputs, spec.source_date_epoch),
            )
            digest = timed("push", lambda: registry.push(storage, tag, "dev", args.service, "bench"))
            timed("promote copy dev → qa", lambda: registry.copy(digest, "dev", "qa", args.service, "bench"))
            if args.service == "wallet":
                reference = f"{registry.repository('dev', 'wallet')}@{digest}"
                timed("pull by digest", lambda: pull(storage, registry, reference))
                env = {
                    "WALLETSTUB_DATABASE_URL": "sqlite+aiosqlite:////tmp/w.db",
                    "WALLETSTUB_CACHE_URL": "memory://",
                }

                def start() -> None:
                    with running(
                        storage,
                        reference,
                        name=f"bench-wallet-{os.getpid()}",
                        port=_free_port(),
                        env=env,
                        logs=workspace.state / "logs",
                    ):
                        pass

                timed("container start to /healthz (and stop)", start)
        finally:
            registry_folder.stop()
            subprocess.run(
                ["buildah", *storage.flags(), "rmi", "--all", "--force"], capture_output=True, check=False
            )
            shutil.rmtree(storage.runroot, ignore_errors=True)
        width = max(len(name) for name, _ in figures)
        cache_state = "cold cache" if args.cold else "warm cache"
        print(f"image path ({cache_state}), load average {os.getloadavg()[0]:.1f}")
        for name, seconds in figures:
            print(f"  {name:<{width}}  {seconds:7.1f} s")
        print(f"  {'total':<{width}}  {sum(s for _, s in figures):7.1f} s")


if __name__ == "__main__":
    main()
