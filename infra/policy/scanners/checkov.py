"""checkov over the Terraform-plan export and the Kubernetes manifests of every environment.

checkov cannot read Pulumi, but its Terraform-plan checks can read :mod:`infra.policy.terraform_plan`'s
export, and its Kubernetes checks the rendered manifests. One offline checkov process
(``--skip-download``: no policies fetched, nothing sent) scans every environment's files; results come
back by file and Terraform address (or manifest kind/namespace/name) and are mapped to the plan's URNs.

checkov lives in its own pinned environment (``.tools/checkov``, made by ``scripts/bootstrap``) because
its pins clash with the project's lock; ``WALLETOPS_CHECKOV`` may point at another executable.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from contracts.errors import UsageProblem
from contracts.plan_graph import EnvironmentPlan, PlanGraph
from infra.policy.scanners import Check
from infra.policy.scanners.kubernetes import manifests_with_urns, subject_of
from infra.policy.terraform_plan import export_environment, load_extract, terraform_addresses, to_text

ENV_VARIABLE = "WALLETOPS_CHECKOV"
TIMEOUT_SECONDS = 900
PLAN_SUFFIX = ".tfplan.json"
MANIFEST_SUFFIX = ".k8s.yaml"


def default_executable() -> Path:
    """``$WALLETOPS_CHECKOV``, else ``.tools/checkov/bin/checkov`` of the checkout holding this file."""
    override = os.environ.get(ENV_VARIABLE)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / ".tools" / "checkov" / "bin" / "checkov"


def _run(executable: Path, files: list[Path], frameworks: list[str]) -> list[dict[str, Any]]:
    if not executable.is_file():
        raise UsageProblem(
            f"checkov not found at {executable}: run scripts/bootstrap (it creates .tools/checkov) "
            f"or set {ENV_VARIABLE}"
        )
    command = [str(executable), "--framework", *frameworks, "--skip-download", "-o", "json", "--compact"]
    for path in files:
        command += ["-f", str(path)]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BC_", "PRISMA_"))}
    env["LOG_LEVEL"] = "WARNING"
    # Run where no .checkov.yaml is found: a config file in the working folder (the review's own has
    # skip-check entries) would silently drop checks; here every exception is a visible waiver.
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
        env=env,
        cwd=files[0].parent,
    )
    if result.returncode not in (0, 1) or not result.stdout.strip():
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageProblem(f"checkov failed (exit {result.returncode}): {detail}")
    parsed = json.loads(result.stdout)
    return parsed if isinstance(parsed, list) else [parsed]


def _results(report: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], bool]]:
    results = report.get("results", {})
    for entry in results.get("passed_checks", []):
        yield entry, True
    for entry in results.get("failed_checks", []):
        yield entry, False


def _manifest_index(plan: EnvironmentPlan) -> dict[str, tuple[str, str]]:
    """checkov's resource id of a manifest (``Kind.namespace.name``) → (URN, subject); the pods
    checkov derives from a workload's template (``Pod.namespace.name.<labels>``) map to the workload."""
    index = {}
    for urn, manifest in manifests_with_urns(plan):
        metadata = manifest.get("metadata") or {}
        namespace, name = metadata.get("namespace", "default"), metadata.get("name")
        index[f"{manifest['kind']}.{namespace}.{name}"] = (urn, subject_of(manifest))
        if (manifest.get("spec") or {}).get("template"):
            index.setdefault(f"Pod.{namespace}.{name}", (urn, subject_of(manifest)))
    return index


def _manifest_of(index: Mapping[str, tuple[str, str]], resource: str) -> tuple[str | None, str]:
    if resource in index:
        return index[resource]
    if resource.startswith("Pod."):
        namespace, name = resource.split(".")[1:3]
        if f"Pod.{namespace}.{name}" in index:
            return index[f"Pod.{namespace}.{name}"]
    return None, resource


def scan(graph: PlanGraph, executable: Path | None = None) -> list[Check]:
    """checkov's Terraform-plan and Kubernetes checks over every environment of ``graph``."""
    extract = load_extract()
    with tempfile.TemporaryDirectory(prefix="walletops-checkov-") as folder:
        root = Path(folder)
        files: list[Path] = []
        addresses: dict[str, dict[str, str]] = {}
        manifests: dict[str, dict[str, tuple[str, str]]] = {}
        for plan in graph:
            path = root / f"{plan.name}{PLAN_SUFFIX}"
            path.write_text(to_text(export_environment(plan, extract)), encoding="utf-8")
            files.append(path)
            by_urn = terraform_addresses(plan, extract)
            addresses[plan.name] = {address: urn for urn, address in by_urn.items()}
            documents = [manifest for _, manifest in manifests_with_urns(plan)]
            if documents:
                k8s = root / f"{plan.name}{MANIFEST_SUFFIX}"
                k8s.write_text(yaml.safe_dump_all(documents, sort_keys=True), encoding="utf-8")
                files.append(k8s)
                manifests[plan.name] = _manifest_index(plan)
        frameworks = ["terraform_plan", *(["kubernetes"] if manifests else [])]
        reports = _run(executable or default_executable(), files, frameworks)
    checks: list[Check] = []
    for report in reports:
        for entry, passed in _results(report):
            file_name = Path(str(entry.get("file_path", ""))).name
            resource = str(entry.get("resource", ""))
            if file_name.endswith(PLAN_SUFFIX):
                env = file_name.removesuffix(PLAN_SUFFIX)
                urn = addresses.get(env, {}).get(resource)
                subject = resource
            elif file_name.endswith(MANIFEST_SUFFIX):
                env = file_name.removesuffix(MANIFEST_SUFFIX)
                urn, subject = _manifest_of(manifests.get(env, {}), resource)
            else:
                continue
            checks.append(
                Check(
                    scanner="checkov",
                    check_id=str(entry["check_id"]),
                    title=str(entry.get("check_name", entry["check_id"])),
                    env=env,
                    urn=urn,
                    subject=subject,
                    passed=passed,
                    message="" if passed else str(entry.get("check_name", "")),
                    guideline=str(entry.get("guideline") or ""),
                )
            )
    return checks
