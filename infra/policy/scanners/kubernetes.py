"""Schema validation of every Kubernetes manifest for the cluster's Kubernetes version.

kubernetes-validate ships the API schemas of several Kubernetes releases; validation is strict (an
unknown field is an error, as the API server's strict field validation would make it). When the
configured version is not shipped the scan stops with a usage error naming the shipped ones — the
library itself would quietly fall back to an older schema, which would validate against the wrong API.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import kubernetes_validate
from kubernetes_validate import utils as kv_utils

from contracts.errors import UsageProblem
from contracts.plan_graph import EnvironmentPlan, PlanGraph, kubernetes_manifest
from infra.policy.scanners import Check

CHECK_SCHEMA = "schema"
CHECK_KIND = "known-kind"


def shipped_versions() -> list[str]:
    """The ``major.minor`` versions whose schemas kubernetes-validate ships."""
    return sorted({kv_utils.major_minor(v) for v in kv_utils.all_versions()}, key=_version_key)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def manifests_with_urns(plan: EnvironmentPlan) -> Iterator[tuple[str, dict[str, Any]]]:
    """(URN, manifest) of every Kubernetes object of an environment, in graph order, secrets redacted."""
    for resource in plan.resources:
        manifest = kubernetes_manifest(resource)
        if manifest:
            yield resource["urn"], manifest


def subject_of(manifest: Mapping[str, Any]) -> str:
    """``Deployment wallet-services/wallet`` — how findings name a manifest."""
    metadata = manifest.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = metadata.get("name", "?")
    return f"{manifest.get('kind')} {namespace}/{name}" if namespace else f"{manifest.get('kind')} {name}"


def validate_manifest(manifest: dict[str, Any], version: str) -> tuple[str, str] | None:
    """``None`` when the manifest is valid for ``version``; else (check id, message)."""
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kv_utils.SchemaNotFoundError:
        return CHECK_KIND, (
            f"no schema for {manifest.get('apiVersion')}/{manifest.get('kind')} in Kubernetes {version}"
        )
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path) or "(root)"
        return CHECK_SCHEMA, f"{path}: {describe_error(exc)}"
    return None


def describe_error(exc: Any) -> str:
    """The schema error without the offending value: jsonschema's messages quote the instance, which
    for a Secret is its content. Messages that only name keys (required, unexpected) are kept."""
    if exc.validator in ("required", "additionalProperties"):
        return str(exc.message)
    expected = exc.validator_value if isinstance(exc.validator_value, str | int | bool) else "the schema"
    return f"value fails {exc.validator!r} (expected {expected}); value not shown"


def scan_manifests(manifests: list[tuple[str | None, dict[str, Any]]], version: str, env: str) -> list[Check]:
    """Validate manifests (each with its URN, when it has one) for one Kubernetes version."""
    if version not in shipped_versions():
        raise UsageProblem(
            f"Kubernetes {version} ({env}): no schemas for it in kubernetes-validate "
            f"{kubernetes_validate.__version__}; shipped: {', '.join(shipped_versions())}"
        )
    checks = []
    for urn, manifest in manifests:
        problem = validate_manifest(manifest, version)
        check_id = problem[0] if problem else CHECK_SCHEMA
        checks.append(
            Check(
                scanner="kubernetes",
                check_id=check_id,
                title=f"Manifest is valid for Kubernetes {version} (strict)",
                env=env,
                urn=urn,
                subject=subject_of(manifest),
                passed=problem is None,
                message=problem[1] if problem else "",
            )
        )
    return checks


def scan(graph: PlanGraph, versions: Mapping[str, str]) -> list[Check]:
    """Every manifest of every environment against its cluster's version."""
    checks: list[Check] = []
    for plan in graph:
        manifests: list[tuple[str | None, dict[str, Any]]] = list(manifests_with_urns(plan))
        if not manifests:
            continue
        version = versions.get(plan.name)
        if version is None:
            raise UsageProblem(
                f"{plan.name}: the kubernetes scanner needs the cluster version from "
                f"Pulumi.{plan.name}.yaml (kubernetes.version); run it with --project-dir"
            )
        checks.extend(scan_manifests(manifests, version, plan.name))
    return checks
