"""``promote``: the same digests, copied to the next environment's repository — never a rebuild.

Promotion goes one step along dev → qa → stage → prod and only from an environment whose current
release is this build (the same digests) and passed its gates there: smoke everywhere, and the
load-test gate where the environment has one (stage). Each image is copied by digest with
``skopeo copy`` and read back: a digest that changed on the way fails the step.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from contracts.errors import UsageProblem
from pipelines.images import ImageError
from pipelines.manifest import BuildManifest, Gate, Releases, next_environment
from pipelines.registry import Registry
from pipelines.results import CheckResult, Status, StepResult

REQUIRED_GATES: Mapping[str, tuple[Gate, ...]] = {
    "dev": ("smoke",),
    "qa": ("smoke",),
    "stage": ("smoke", "gate"),
    "prod": ("smoke",),
}
"""What an environment's release must have passed before it is promoted onwards."""


def check_promotion(manifest: BuildManifest, releases: Releases, source: str, target: str) -> None:
    """Refuse (usage problem, exit 2) a promotion out of order or of a build the source has not passed."""
    if next_environment(source) != target:
        raise UsageProblem(
            f"--from {source} --to {target}: promotion goes one step at a time, {source} → "
            f"{next_environment(source) or 'nowhere (prod is last)'}"
        )
    current = releases.current(source)
    if current is None:
        raise UsageProblem(f"--from {source}: nothing deployed there yet, so nothing passed its gates")
    if current.digests != manifest.digests():
        raise UsageProblem(
            f"--from {source}: it runs build {current.commit}, not {manifest.commit}; "
            "promote what was tested there"
        )
    missing = [gate for gate in REQUIRED_GATES[source] if gate not in current.passed]
    if missing:
        raise UsageProblem(
            f"--from {source}: build {manifest.commit} has not passed {' and '.join(missing)} there "
            f"(passed: {', '.join(current.passed) or 'nothing'}); run `walletops pipeline "
            f"{missing[0]} --env {source}` first"
        )


def promote(
    manifest: BuildManifest, releases: Releases, source: str, target: str, registry: Registry
) -> StepResult:
    """Copy every image of ``manifest`` from ``source``'s repository to ``target``'s, by digest."""
    check_promotion(manifest, releases, source, target)
    started = time.monotonic()
    result = StepResult("promote")
    for service, record in sorted(manifest.images.items()):
        copy_started = time.monotonic()
        try:
            digest = registry.copy(record.digest, source, target, service, manifest.commit)
        except ImageError as exc:
            result.checks.append(
                CheckResult(service, Status.failed, str(exc), [], time.monotonic() - copy_started)
            )
            break
        result.checks.append(
            CheckResult(
                service,
                Status.passed,
                f"{registry.repository(target, service)}@{digest} (same digest)",
                [],
                time.monotonic() - copy_started,
            )
        )
        result.artefacts[f"{target} {service}"] = f"{registry.repository(target, service)}@{digest}"
    result.seconds = time.monotonic() - started
    return result
