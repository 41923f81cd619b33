"""Where the pipeline keeps its state on a machine, and which commit it is working on.

``<project>/.state/pipeline/`` holds the container storage, the loopback registry (data, port,
pid), the build manifests, the SBOMs and the release history. The base-image tarball and the
wheels are cached by content hash in ``$WALLETOPS_CACHE`` (default ``~/.cache/walletops``), so
fresh clones on the same machine reuse them and a changed input never hits a stale entry.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipelines.images import Storage
from pipelines.registry import LoopbackRegistry


def cache_dir() -> Path:
    configured = os.environ.get("WALLETOPS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "walletops"


def commit_id(project_dir: Path) -> str:
    """The checked-out commit (12 hex digits), ``-dirty`` when tracked files differ from it."""

    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", "-C", str(project_dir), *args], capture_output=True, text=True, timeout=60, check=False
        )
        return proc.stdout.strip() if proc.returncode == 0 else ""

    head = git("rev-parse", "--short=12", "HEAD")
    if not head:
        return "uncommitted"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head}-dirty" if dirty else head


@dataclass(frozen=True)
class Workspace:
    """The pipeline's folders for one project (``state``) and the shared content cache."""

    project_dir: Path
    state: Path
    cache: Path

    @classmethod
    def for_project(cls, project_dir: Path, state: Path | None = None) -> Workspace:
        return cls(project_dir, state or project_dir / ".state" / "pipeline", cache_dir() / "images")

    @property
    def storage(self) -> Storage:
        return Storage.under(self.state)

    @property
    def registry(self) -> LoopbackRegistry:
        return LoopbackRegistry(self.state / "registry")

    @property
    def releases_file(self) -> Path:
        return self.state / "releases.json"

    def manifest_file(self, commit: str) -> Path:
        return self.state / "builds" / commit / "build-manifest.json"
