"""The build manifest and the release history: the digests every step after ``build`` works with.

``build`` writes one :class:`BuildManifest` per commit: for each service, the repository, tag,
digest and SBOM. ``deploy`` takes its digests as stack config; ``promote`` copies exactly those
digests to the next environment; nothing after ``build`` ever builds again.

:class:`Releases` is the per-environment history (``releases.json`` in the pipeline's state folder,
an artefact in CI): what was deployed where and which gates it passed. ``promote`` refuses unless
the source environment's current release passed smoke and gate; ``rollback`` redeploys the
previous release's digests.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.errors import UsageProblem
from contracts.project import ENVIRONMENTS

Digest = Annotated[str, Field(pattern=r"^sha256:[a-f0-9]{64}$")]
Gate = Literal["smoke", "gate"]


class ImageRecord(BaseModel):
    """One pushed service image."""

    model_config = ConfigDict(extra="forbid")

    repository: str
    tag: str
    digest: Digest
    sbom: str
    sbom_sha256: str
    image_id: str

    @property
    def reference(self) -> str:
        """The image by digest, as deployments use it."""
        return f"{self.repository}@{self.digest}"


class BuildManifest(BaseModel):
    """Every image one commit produced, with the base it was built on."""

    model_config = ConfigDict(extra="forbid")

    commit: str
    created: datetime
    registry: str
    environment: str
    base_image: str
    base_key: str
    images: dict[str, ImageRecord]

    def digests(self) -> dict[str, str]:
        return {service: record.digest for service, record in sorted(self.images.items())}

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> BuildManifest:
        """Read a manifest; a missing or malformed file is a usage problem naming it."""
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageProblem(f"--manifest {path}: no such file; run `walletops pipeline build`") from None
        except ValidationError as exc:
            raise UsageProblem(
                [f"--manifest {path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            ) from None


class Release(BaseModel):
    """The digests one environment runs, and the gates they passed there."""

    model_config = ConfigDict(extra="forbid")

    commit: str
    registry: str
    digests: dict[str, Digest]
    deployed: datetime
    source: str
    passed: list[Gate] = Field(default_factory=list)


class Releases(BaseModel):
    """Release history per environment, newest last."""

    model_config = ConfigDict(extra="forbid")

    environments: dict[str, list[Release]] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Releases:
        if not path.exists():
            return cls()
        return cls.model_validate_json(path.read_text(encoding="utf-8"))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")

    def current(self, env: str) -> Release | None:
        history = self.environments.get(env, [])
        return history[-1] if history else None

    def previous(self, env: str) -> Release | None:
        """The release before the current one with different digests (what a rollback returns to)."""
        history = self.environments.get(env, [])
        if not history:
            return None
        current = history[-1].digests
        for release in reversed(history[:-1]):
            if release.digests != current:
                return release
        return None

    def record(self, env: str, release: Release) -> None:
        self.environments.setdefault(env, []).append(release)

    def mark_passed(self, env: str, gate: Gate) -> None:
        release = self.current(env)
        if release is None:
            raise UsageProblem(f"--env {env}: nothing deployed there yet; run `walletops pipeline deploy`")
        if gate not in release.passed:
            release.passed.append(gate)


def next_environment(env: str) -> str | None:
    """The environment after ``env`` in promotion order (dev → qa → stage → prod)."""
    order = list(ENVIRONMENTS)
    index = order.index(env)
    return order[index + 1] if index + 1 < len(order) else None
