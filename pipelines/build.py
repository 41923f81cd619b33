"""``build``: one OCI image per service, tagged by commit, with an SBOM, pushed; digests to a manifest.

The base image and the wheels come from the content cache (made on first use), every service image
is built with no network (:mod:`pipelines.images`), its SBOM is read from the image's own files
(:mod:`pipelines.sbom`), and it is pushed to ``<registry>/<environment>/<service>:<commit>``. The
registry is the loopback one unless ``registry`` names another (ECR in CI, logged in beforehand).
The digests the registry reports are written to the build manifest.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from contracts.errors import UsageProblem
from pipelines.images import (
    SERVICES,
    BaseImageSpec,
    BuildInputs,
    ImageError,
    Storage,
    base_image,
    build,
    requirements_of,
    wheels,
)
from pipelines.manifest import BuildManifest, ImageRecord
from pipelines.registry import Registry
from pipelines.results import CheckResult, Status, StepResult
from pipelines.sbom import SbomError, image_sbom
from pipelines.workspace import Workspace, commit_id

Progress = Callable[[str], None]


def _timed(result: StepResult, name: str, action: Callable[[], str]) -> bool:
    """Run one part of the build as a check; a failure is recorded with the tool's output, not raised."""
    started = time.monotonic()
    try:
        summary, status = action(), Status.passed
    except (ImageError, SbomError) as exc:
        summary, status = str(exc), Status.failed
    result.checks.append(CheckResult(name, status, summary, seconds=time.monotonic() - started))
    return status is Status.passed


def _sbom(storage: Storage, image: str, *, service: str, commit: str, digest: str, created: datetime) -> str:
    container = storage.buildah("from", "--pull-never", "--quiet", image).strip()
    try:
        rootfs = Path(storage.buildah("mount", container).strip())
        return image_sbom(
            rootfs, service=service, version=commit, image=image, created=created, digest=digest
        )
    finally:
        storage.buildah("rm", container)


def build_images(
    workspace: Workspace,
    registry: Registry,
    *,
    services: Sequence[str] = SERVICES,
    environment: str = "dev",
    commit: str | None = None,
    spec: BaseImageSpec | None = None,
    progress: Progress = lambda _message: None,
) -> tuple[StepResult, BuildManifest | None]:
    """Build, describe and push every service image of ``services``; return the step and its manifest.

    The manifest is ``None`` when any part failed (the step's checks say which, with the tool's output).
    """
    unknown = sorted(set(services) - set(SERVICES))
    if unknown:
        raise UsageProblem(f"--service {', '.join(unknown)}: unknown; allowed: {', '.join(SERVICES)}")
    spec = spec or BaseImageSpec()
    commit = commit or commit_id(workspace.project_dir)
    storage = workspace.storage
    result = StepResult("build")
    started = time.monotonic()
    created = datetime.now(UTC).replace(microsecond=0)
    base: dict[str, str] = {}

    def make_base() -> str:
        progress(f"base image {spec.image()} (mmdebstrap, cached by spec)")
        image, tarball = base_image(storage, workspace.cache, spec)
        base["image"] = image
        result.artefacts["base tarball"] = str(tarball)
        return f"{image} ({len(spec.packages)} packages beyond essential)"

    def make_wheels() -> str:
        counts = []
        for requirements in sorted({requirements_of(service) for service in services}):
            progress(f"wheels of {requirements}")
            folder = wheels(workspace.project_dir / requirements, workspace.cache)
            base[f"wheels:{requirements}"] = str(folder)
            counts.append(f"{sum(1 for _ in folder.glob('*.whl'))} wheels in {folder}")
        return "; ".join(counts)

    if not (_timed(result, "base image", make_base) and _timed(result, "wheels", make_wheels)):
        result.seconds = time.monotonic() - started
        return result, None
    records: dict[str, ImageRecord] = {}
    out = workspace.manifest_file(commit).parent
    for service in services:
        tag = f"localhost/walletops/{service}:{commit}"

        def make_image(service: str = service, tag: str = tag) -> str:
            progress(f"image {service}")
            inputs = BuildInputs(
                workspace.project_dir,
                service,
                base["image"],
                Path(base[f"wheels:{requirements_of(service)}"]),
                tag,
                labels={
                    "org.opencontainers.image.revision": commit,
                    "org.opencontainers.image.title": f"walletops {service}",
                    "org.opencontainers.image.base.name": base["image"],
                },
            )
            built = build(storage, inputs, spec.source_date_epoch)
            progress(f"push {service} to {registry.repository(environment, service)}")
            digest = registry.push(storage, built.image, environment, service, commit)
            sbom = _sbom(storage, built.image, service=service, commit=commit, digest=digest, created=created)
            sbom_file = out / f"{service}.cdx.json"
            sbom_file.parent.mkdir(parents=True, exist_ok=True)
            sbom_file.write_text(sbom, encoding="utf-8")
            records[service] = ImageRecord(
                repository=registry.repository(environment, service),
                tag=commit,
                digest=digest,
                sbom=str(sbom_file),
                sbom_sha256=hashlib.sha256(sbom.encode()).hexdigest(),
                image_id=built.image_id,
            )
            return f"{registry.repository(environment, service)}@{digest}"

        if not _timed(result, f"image {service}", make_image):
            result.seconds = time.monotonic() - started
            return result, None
    manifest = BuildManifest(
        commit=commit,
        created=created,
        registry=registry.address,
        environment=environment,
        base_image=base["image"],
        base_key=spec.key(),
        images=records,
    )
    manifest_file = workspace.manifest_file(commit)
    manifest.write(manifest_file)
    result.artefacts["build manifest"] = str(manifest_file)
    result.artefacts["registry"] = registry.address
    for service, record in records.items():
        result.artefacts[f"sbom {service}"] = record.sbom
    result.seconds = time.monotonic() - started
    return result, manifest
