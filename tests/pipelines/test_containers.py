"""The built image runs here (podman + runc): unprivileged, read-only, and it serves a real transfer."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.containers import pull, running
from pipelines.manifest import BuildManifest
from pipelines.registry import Registry
from pipelines.results import Status
from pipelines.smoke import SmokeTarget, smoke
from pipelines.workspace import Workspace

pytestmark = [pytest.mark.service, pytest.mark.xdist_group("images")]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_wallet_image_pulled_by_digest_runs_unprivileged_and_passes_the_smoke_test(
    image_workspace: Workspace, loopback_registry: Registry, wallet_build: BuildManifest, tmp_path: Path
) -> None:
    reference = wallet_build.images["wallet"].reference
    pull(image_workspace.storage, loopback_registry, reference)
    port = _free_port()
    env = {
        "WALLETSTUB_DATABASE_URL": "sqlite+aiosqlite:////tmp/wallet.db",
        "WALLETSTUB_CACHE_URL": "memory://",
    }
    with running(
        image_workspace.storage, reference, name="walletops-test-wallet", port=port, env=env, logs=tmp_path
    ) as container:
        user = image_workspace.storage.podman("exec", container.name, "id", "-u").strip()
        writable = image_workspace.storage.podman(
            "exec",
            container.name,
            "python",
            "-c",
            "import os; print(os.access('/app', os.W_OK), os.access('/opt/venv', os.W_OK))",
        ).strip()
        result = smoke(SmokeTarget(container.url, label="wallet container"))
    assert user == "10001"
    assert writable == "False False"
    assert result.status is Status.passed, result.to_document()
    assert [c.name for c in result.checks] == ["health", "one transfer", "ledger verify"]
