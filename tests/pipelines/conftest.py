"""Fixtures of the pipeline tests: a loopback registry and the wallet image, built once per session.

The image tests start real tools (mmdebstrap, buildah, skopeo, podman with runc, docker-registry) in
folders of their own and fail loudly when one is missing: ``scripts/system-packages`` installs them.
The Debian base and the wheels come from the content cache (``$WALLETOPS_CACHE``), made on first use.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.build import build_images
from pipelines.images import missing_tools
from pipelines.manifest import BuildManifest
from pipelines.registry import LoopbackRegistry, Registry
from pipelines.results import Status
from pipelines.workspace import Workspace, cache_dir

ROOT = Path(__file__).resolve().parents[2]
DEFECTS = Path(__file__).resolve().parent / "defects"


def _require_tools() -> None:
    missing = missing_tools()
    if missing:
        pytest.fail(
            f"image tools missing: install the Debian packages {', '.join(missing)} (scripts/system-packages)"
        )


@pytest.fixture(scope="session")
def image_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A pipeline workspace for this project with its own container storage and state."""
    _require_tools()
    workspace = Workspace(ROOT, tmp_path_factory.mktemp("pipeline"), cache_dir() / "images")
    yield workspace
    storage = workspace.storage
    for args in (("rm", "--all"), ("rmi", "--all", "--force")):
        subprocess.run(["buildah", *storage.flags(), *args], capture_output=True, check=False, timeout=300)
    subprocess.run(["umount", "-R", str(storage.root)], capture_output=True, check=False)
    shutil.rmtree(storage.root, ignore_errors=True)
    shutil.rmtree(storage.runroot, ignore_errors=True)


@pytest.fixture(scope="session")
def loopback_registry(image_workspace: Workspace) -> Iterator[Registry]:
    registry = LoopbackRegistry(image_workspace.state / "registry")
    yield registry.start()
    registry.stop()


@pytest.fixture(scope="session")
def wallet_build(image_workspace: Workspace, loopback_registry: Registry) -> BuildManifest:
    """The wallet image built hermetically, pushed to the loopback registry's dev repository."""
    result, manifest = build_images(
        image_workspace, loopback_registry, services=["wallet"], commit="testbuild"
    )
    assert result.status is Status.passed, result.to_document()
    assert manifest is not None
    return manifest
