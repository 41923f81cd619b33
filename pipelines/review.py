"""``review``: every automated check a change must pass before anything is built.

Linters and scanners run on the reviewed tree (:mod:`pipelines.scanners`): ruff, mypy, bandit,
detect-secrets, yamllint, hadolint on every Dockerfile, actionlint + zizmor + the GitHub workflow
schema on ``.github/workflows/``, checkov on the Dockerfiles (and on rendered manifests the command
line hands in), and pip-audit on the locks (reported *not run* when its service is unreachable).
Checks that need other areas — the policy verdicts over the four plans with the third-party scanners
(checkov over the plans and manifests, parliament, the Kubernetes schemas; waivers applied), the
cost diff against the base branch — are computed by the command line, which hands them in as ready
results: this area never plans and never imports another area.

All findings merge into one table, one SARIF file (:mod:`pipelines.sarif`) and one Markdown
comment for the pull request.
"""

from __future__ import annotations

import fnmatch
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from pipelines import scanners
from pipelines.results import CheckResult, Finding, Status, StepResult
from pipelines.scanners import Target

SKIPPED_DIRS = {
    ".git",
    ".venv",
    ".tools",
    ".state",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
}
LOCKS = ("requirements.lock", "services-stub/docker/requirements.txt")


def settings(root: Path, key: str) -> list[str]:
    """A list from ``[tool.walletops.review]`` of ``pyproject.toml``: ``exclude`` (globs of files the
    review skips) or ``secrets-exclude`` (generated digest files detect-secrets skips)."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return []
    document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    return list(document.get("tool", {}).get("walletops", {}).get("review", {}).get(key, []))


def review_files(root: Path, exclude: Sequence[str] = ()) -> tuple[str, ...]:
    """The files under review: git's tracked and new, not ignored, files; every file outside a repository."""
    proc = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard", "--", "."],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    inside = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--show-prefix"], capture_output=True, text=True, check=False
    )
    if proc.returncode == 0 and inside.returncode == 0 and not inside.stdout.strip():
        names = proc.stdout.splitlines()
    else:
        names = [
            path.relative_to(root).as_posix()
            for path in sorted(root.rglob("*"))
            if path.is_file() and not SKIPPED_DIRS & set(path.relative_to(root).parts)
        ]
    return tuple(
        sorted(
            name
            for name in names
            if (root / name).is_file() and not any(fnmatch.fnmatch(name, pattern) for pattern in exclude)
        )
    )


def write_manifests(manifests: Mapping[str, Iterable[Mapping[str, Any]]], folder: Path) -> Path:
    """The rendered Kubernetes objects as one multi-document YAML file per environment."""
    folder.mkdir(parents=True, exist_ok=True)
    for env, objects in manifests.items():
        text = yaml.safe_dump_all([dict(obj) for obj in objects], sort_keys=False)
        (folder / f"{env}.yaml").write_text(text, encoding="utf-8")
    return folder


def _scan(name: str, scan: Callable[[Target], CheckResult], target: Target) -> CheckResult:
    return scanners.guarded(name, scan)(target)


def review(
    root: Path,
    *,
    tools: Path,
    manifests: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
    extra: Callable[[], list[CheckResult]] | None = None,
    audit: bool = True,
    progress: Callable[[str], None] = lambda _message: None,
) -> StepResult:
    """Run every check on ``root`` and merge the results (checks in a fixed order, whatever finished first).

    ``extra`` computes the checks other areas own (policy, cost diff); it runs beside the scanners.
    """
    started = time.monotonic()
    target = Target(root=root, files=review_files(root, settings(root, "exclude")), tools=tools)
    progress(f"reviewing {len(target.files)} files in {root}")
    locks = [name for name in LOCKS if name in target.files]
    with tempfile.TemporaryDirectory(prefix="walletops-review-") as tmp:
        rendered = write_manifests(manifests, Path(tmp) / "manifests") if manifests else None
        jobs: list[tuple[str, Callable[[], CheckResult | list[CheckResult]]]] = [
            ("checkov", lambda: scanners.guarded("checkov", lambda t: scanners.checkov(t, rendered))(target)),
            ("mypy", lambda: scanners.guarded("mypy", scanners.mypy)(target)),
        ]
        if extra is not None:
            jobs.append(("policy and cost", extra))
        for name, scan in (
            ("ruff", scanners.ruff),
            ("bandit", scanners.bandit),
            ("detect-secrets", partial(scanners.detect_secrets, exclude=settings(root, "secrets-exclude"))),
            ("yamllint", scanners.yamllint),
            ("hadolint", scanners.hadolint),
            ("actionlint", scanners.actionlint),
            ("zizmor", scanners.zizmor),
            ("workflow schema", scanners.workflow_schema),
        ):
            jobs.append((name, partial(_scan, name, scan, target)))
        if audit and locks:
            jobs.append(
                (
                    "pip-audit",
                    lambda: scanners.guarded("pip-audit", lambda t: scanners.pip_audit(t, locks))(target),
                )
            )
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [(name, pool.submit(job)) for name, job in jobs]
            checks: list[CheckResult] = []
            for name, future in futures:
                outcome = future.result()
                progress(f"{name}: done")
                checks.extend(outcome if isinstance(outcome, list) else [outcome])
    return StepResult("review", checks=checks, seconds=time.monotonic() - started)


def markdown(result: StepResult, cost_diff: str | None = None, limit: int = 50) -> str:
    """The pull-request comment: one line per check, the findings (first ``limit``), the cost diff."""
    icon = {Status.passed: "✅", Status.failed: "❌", Status.not_run: "⚪ not run"}
    lines = [
        f"## walletops review: {result.status.value}",
        "",
        "| check | status | summary |",
        "|---|---|---|",
    ]
    for check in result.checks:
        summary = check.summary.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {check.name} | {icon[check.status]} | {summary} |")
    findings: list[Finding] = [f for f in result.findings if f.severity != "note"]
    if findings:
        lines += [
            "",
            f"### Findings ({len(findings)})",
            "",
            "| tool | rule | where | message |",
            "|---|---|---|---|",
        ]
        for finding in findings[:limit]:
            message = finding.message.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {finding.tool} | {finding.rule} | `{finding.location}` | {message} |")
        if len(findings) > limit:
            lines.append(f"| … | | | {len(findings) - limit} more in the SARIF file |")
    if cost_diff:
        lines += ["", cost_diff.strip()]
    return "\n".join(lines) + "\n"
