"""The review's tools: each runs on a set of files and returns a check with findings (file and line).

Every adapter reads the tool's machine output (JSON, SARIF-like or parsable text), never its
human text, and turns it into :class:`~pipelines.results.Finding` objects with paths relative to
the reviewed root. A tool that is missing fails its check with the install hint (bootstrap installs
them all); a tool whose online service is unreachable is *not run* — pip-audit is the one here.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.results import CheckResult, Finding, Severity, Status

BIN = Path(sys.executable).parent
"""The virtual environment's scripts (ruff, mypy, bandit, …): the review runs the locked versions."""


@dataclass(frozen=True)
class Target:
    """What a review looks at: the root, its files (relative), and the pinned tool environments."""

    root: Path
    files: tuple[str, ...]
    tools: Path
    """The project's ``.tools`` folder (checkov venv, actionlint package) made by scripts/bootstrap."""

    def matching(self, predicate: Callable[[str], bool]) -> list[str]:
        return [name for name in self.files if predicate(name)]

    @property
    def python(self) -> list[str]:
        return self.matching(lambda name: name.endswith(".py"))

    @property
    def yaml(self) -> list[str]:
        return self.matching(lambda name: name.endswith((".yml", ".yaml")))

    @property
    def dockerfiles(self) -> list[str]:
        return self.matching(lambda name: Path(name).name == "Dockerfile" or name.endswith(".Dockerfile"))

    @property
    def workflows(self) -> list[str]:
        return self.matching(
            lambda name: name.startswith(".github/workflows/") and name.endswith((".yml", ".yaml"))
        )


class ToolMissing(RuntimeError):
    """A review tool is not installed; the message says how to get it."""


def _tool(name: str) -> str:
    candidate = BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(f"{name} is not installed; run scripts/bootstrap")
    return found


def _run(argv: Sequence[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )


def _relative(root: Path, path: str) -> str:
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            return candidate.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return candidate.as_posix()
    return candidate.as_posix().removeprefix("./")


def _check(
    name: str, findings: list[Finding], started: float, *, what: str, failing: Iterable[Severity] = ("error",)
) -> CheckResult:
    bad = [f for f in findings if f.severity in set(failing)]
    status = Status.failed if bad else Status.passed
    summary = f"{len(bad)} finding(s) in {what}" if bad else f"clean: {what}"
    others = len(findings) - len(bad)
    if others:
        summary += f" ({others} warning(s) or note(s))"
    return CheckResult(name, status, summary, findings, time.monotonic() - started)


def _broken(name: str, started: float, proc: subprocess.CompletedProcess[str]) -> CheckResult:
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
    return CheckResult(
        name,
        Status.failed,
        f"{name} failed to run ({proc.returncode}): {tail}",
        [],
        time.monotonic() - started,
    )


def guarded(name: str, scan: Callable[[Target], CheckResult]) -> Callable[[Target], CheckResult]:
    """``scan`` with a missing tool or a time-out turned into a failed check that says so."""

    def run(target: Target) -> CheckResult:
        started = time.monotonic()
        try:
            return scan(target)
        except ToolMissing as exc:
            return CheckResult(name, Status.failed, str(exc), [], time.monotonic() - started)
        except subprocess.TimeoutExpired as exc:
            return CheckResult(
                name,
                Status.failed,
                f"{name} timed out after {exc.timeout:.0f} s",
                [],
                time.monotonic() - started,
            )

    return run


def ruff(target: Target) -> CheckResult:
    started = time.monotonic()
    files = target.python
    if not files:
        return CheckResult("ruff", Status.passed, "no Python files", [], 0.0)
    proc = _run(
        [
            _tool("ruff"),
            "check",
            "--output-format",
            "json",
            "--no-fix",
            "--exit-zero",
            "--force-exclude",
            *files,
        ],
        target.root,
    )
    findings = [
        Finding(
            "ruff",
            item["code"] or "syntax",
            item["message"],
            _relative(target.root, item["filename"]),
            item["location"]["row"],
        )
        for item in json.loads(proc.stdout or "[]")
    ]
    fmt = _run([_tool("ruff"), "format", "--check", *files], target.root)
    findings += [
        Finding(
            "ruff", "format", "not formatted as `ruff format` would", line.removeprefix("Would reformat: ")
        )
        for line in fmt.stdout.splitlines()
        if line.startswith("Would reformat: ")
    ]
    return _check("ruff", findings, started, what=f"{len(files)} Python files")


def mypy(target: Target) -> CheckResult:
    started = time.monotonic()
    pyproject = target.root / "pyproject.toml"
    if not pyproject.is_file() or "[tool.mypy]" not in pyproject.read_text():
        return CheckResult("mypy", Status.not_run, "no [tool.mypy] in pyproject.toml here", [], 0.0)
    proc = _run([_tool("mypy"), "--output", "json"], target.root, timeout=900)
    findings = []
    for line in proc.stdout.splitlines():
        if not line.startswith("{"):
            continue
        item = json.loads(line)
        severity: Severity = "error" if item["severity"] == "error" else "note"
        findings.append(
            Finding(
                "mypy",
                item.get("code") or "mypy",
                item["message"],
                _relative(target.root, item["file"]),
                item["line"],
                severity,
            )
        )
    if proc.returncode not in (0, 1):
        return _broken("mypy", started, proc)
    return _check("mypy", findings, started, what="the packages in [tool.mypy]")


BANDIT_SKIPS = ("B101", "B311", "B404", "B603", "B607")
"""The same checks ruff's configuration ignores (assert, random, subprocess with fixed argv)."""
NOQA = re.compile(r"#\s*noqa:?\s*(?P<codes>[A-Z]+\d+(?:[,\s]+[A-Z]+\d+)*)")


def _ruff_suppressed(root: Path, file: str, lines: Iterable[int], test_id: str) -> bool:
    """A bandit finding whose lines carry ruff's ``noqa`` for the same check (``B108`` ↔ ``S108``).

    ruff's flake8-bandit rules are bandit's checks under the same numbers, so one suppression with
    its reason serves both tools instead of two comments on one line.
    """
    wanted = "S" + test_id.removeprefix("B")
    try:
        text = (root / file).read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    for number in lines:
        if 0 < number <= len(text):
            match = NOQA.search(text[number - 1])
            if match and wanted in re.split(r"[,\s]+", match["codes"]):
                return True
    return False


def bandit(target: Target) -> CheckResult:
    started = time.monotonic()
    files = [name for name in target.python if not name.startswith("tests/")]
    if not files:
        return CheckResult("bandit", Status.passed, "no Python files outside tests/", [], 0.0)
    proc = _run(
        [_tool("bandit"), "-q", "-f", "json", "-ll", "-ii", "--skip", ",".join(BANDIT_SKIPS), *files],
        target.root,
    )
    if proc.returncode not in (0, 1):
        return _broken("bandit", started, proc)
    findings = []
    for item in json.loads(proc.stdout)["results"]:
        file = _relative(target.root, item["filename"])
        if _ruff_suppressed(
            target.root, file, item.get("line_range") or [item["line_number"]], item["test_id"]
        ):
            continue
        findings.append(
            Finding(
                "bandit",
                item["test_id"],
                f"{item['issue_text']} ({item['issue_severity']})",
                file,
                item["line_number"],
            )
        )
    return _check("bandit", findings, started, what=f"{len(files)} Python files outside tests/")


SECRETS_BASELINE = ".secrets.baseline"


def detect_secrets(target: Target, exclude: Sequence[str] = ()) -> CheckResult:
    """Secrets in any reviewed file, except those audited into ``.secrets.baseline`` as false positives.

    ``exclude`` names generated files made of digests (lock hashes, recorded plan digests) that are
    high-entropy by nature; every other file is scanned.
    """
    started = time.monotonic()
    files = [
        name
        for name in target.files
        if name != SECRETS_BASELINE and not any(fnmatch.fnmatch(name, pattern) for pattern in exclude)
    ]
    proc = _run([_tool("detect-secrets"), "scan", *files], target.root)
    if proc.returncode != 0:
        return _broken("detect-secrets", started, proc)
    allowed: set[tuple[str, str]] = set()
    baseline = target.root / SECRETS_BASELINE
    if baseline.is_file():
        for file, entries in json.loads(baseline.read_text())["results"].items():
            allowed |= {
                (file, entry["hashed_secret"]) for entry in entries if entry.get("is_secret") is False
            }
    findings = [
        Finding(
            "detect-secrets",
            entry["type"],
            f"possible secret ({entry['type']}); remove it, or audit it "
            f"into {SECRETS_BASELINE} when it is not one",
            file,
            entry["line_number"],
        )
        for file, entries in json.loads(proc.stdout)["results"].items()
        for entry in entries
        if (file, entry["hashed_secret"]) not in allowed
    ]
    return _check("detect-secrets", findings, started, what=f"{len(files)} files")


def yamllint(target: Target) -> CheckResult:
    started = time.monotonic()
    files = target.yaml
    if not files:
        return CheckResult("yamllint", Status.passed, "no YAML files", [], 0.0)
    config = target.root / ".yamllint.yaml"
    args = ["-c", str(config)] if config.is_file() else []
    proc = _run([_tool("yamllint"), "-f", "parsable", *args, *files], target.root)
    pattern = re.compile(
        r"^(?P<file>.+?):(?P<line>\d+):\d+: \[(?P<level>\w+)\] (?P<msg>.*?)(?: \((?P<rule>[\w-]+)\))?$"
    )
    findings = []
    for line in proc.stdout.splitlines():
        match = pattern.match(line)
        if match:
            severity: Severity = "error" if match["level"] == "error" else "warning"
            findings.append(
                Finding(
                    "yamllint",
                    match["rule"] or "syntax",
                    match["msg"],
                    match["file"],
                    int(match["line"]),
                    severity,
                )
            )
    return _check("yamllint", findings, started, what=f"{len(files)} YAML files")


def hadolint(target: Target) -> CheckResult:
    started = time.monotonic()
    files = target.dockerfiles
    if not files:
        return CheckResult("hadolint", Status.passed, "no Dockerfiles", [], 0.0)
    proc = _run([_tool("hadolint"), "--no-color", "-f", "json", *files], target.root)
    levels: dict[str, Severity] = {"error": "error", "warning": "error", "info": "note", "style": "note"}
    findings = [
        Finding(
            "hadolint",
            item["code"],
            item["message"],
            _relative(target.root, item["file"]),
            item["line"],
            levels.get(item["level"], "note"),
        )
        for item in json.loads(proc.stdout or "[]")
    ]
    return _check("hadolint", findings, started, what=f"{len(files)} Dockerfiles")


ACTIONLINT_RUNNER = Path(__file__).resolve().parents[1] / "tools" / "actionlint" / "run.cjs"


def actionlint(target: Target) -> CheckResult:
    started = time.monotonic()
    files = target.workflows
    if not files:
        return CheckResult("actionlint", Status.passed, "no workflows", [], 0.0)
    module = target.tools / "actionlint" / "node_modules" / "@tktco" / "node-actionlint"
    if not module.is_dir():
        raise ToolMissing(f"actionlint is not installed in {module.parent.parent}; run scripts/bootstrap")
    proc = subprocess.run(
        [_tool("node"), str(ACTIONLINT_RUNNER), *files],
        cwd=target.root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "ACTIONLINT_MODULE": str(module)},
    )
    if proc.returncode != 0:
        return _broken("actionlint", started, proc)
    findings = [
        Finding("actionlint", item["kind"], item["message"], item["file"], item["line"])
        for item in json.loads(proc.stdout)
    ]
    return _check("actionlint", findings, started, what=f"{len(files)} workflows")


def zizmor(target: Target) -> CheckResult:
    started = time.monotonic()
    files = target.workflows
    if not files:
        return CheckResult("zizmor", Status.passed, "no workflows", [], 0.0)
    proc = _run([_tool("zizmor"), "--offline", "--no-progress", "--format", "json", *files], target.root)
    if proc.returncode not in (0, *range(10, 15)):
        return _broken("zizmor", started, proc)
    findings = []
    for item in json.loads(proc.stdout or "[]"):
        if item.get("ignored"):
            continue
        primary = next(
            (loc for loc in item["locations"] if loc["symbolic"].get("kind") == "Primary"),
            item["locations"][0],
        )
        where = primary["symbolic"]["key"]["Local"]["verbatim_path"]
        line = primary["concrete"]["location"]["start_point"]["row"] + 1
        severity = item["determinations"]["severity"]
        findings.append(
            Finding(
                "zizmor",
                item["ident"],
                f"{item['desc']} ({severity})",
                _relative(target.root, where),
                line,
                "note" if severity in ("Informational", "Unknown") else "error",
            )
        )
    return _check("zizmor", findings, started, what=f"{len(files)} workflows")


def workflow_schema(target: Target) -> CheckResult:
    started = time.monotonic()
    files = target.workflows
    if not files:
        return CheckResult("workflow schema", Status.passed, "no workflows", [], 0.0)
    proc = _run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", "-o", "json", *files],
        target.root,
    )
    document = json.loads(proc.stdout or "{}")
    findings = [
        Finding(
            "check-jsonschema",
            "github-workflow",
            f"{error.get('path', '$')}: {error['message']}",
            _relative(target.root, error["filename"]),
        )
        for error in document.get("errors", [])
    ]
    findings += [
        Finding(
            "check-jsonschema",
            "parse",
            str(error.get("message", error)),
            _relative(target.root, error.get("filename", "?")),
        )
        for error in document.get("parse_errors", [])
    ]
    return _check("workflow schema", findings, started, what=f"{len(files)} workflows")


def kubernetes_files(target: Target) -> list[str]:
    """YAML files of the tree that are Kubernetes objects (a top-level ``apiVersion`` and ``kind``)."""
    found = []
    for name in target.yaml:
        text = (target.root / name).read_text(encoding="utf-8", errors="replace")
        if re.search(r"^apiVersion:", text, flags=re.M) and re.search(r"^kind:", text, flags=re.M):
            found.append(name)
    return found


def checkov(target: Target, manifests: Path | None = None) -> CheckResult:
    """checkov on every Dockerfile and Kubernetes file, and on the rendered manifests in ``manifests``."""
    started = time.monotonic()
    binary = target.tools / "checkov" / "bin" / "checkov"
    if not binary.exists():
        raise ToolMissing(f"checkov is not installed in {binary.parent.parent}; run scripts/bootstrap")
    rendered = sorted(manifests.glob("*.yaml")) if manifests is not None else []
    files = [*target.dockerfiles, *kubernetes_files(target), *map(str, rendered)]
    if not files:
        return CheckResult("checkov", Status.passed, "no Dockerfiles or manifests", [], 0.0)
    args = [arg for name in files for arg in ("-f", name)]
    config = target.root / ".checkov.yaml"
    if config.is_file():
        args += ["--config-file", str(config)]
    proc = _run(
        [
            str(binary),
            "--skip-download",
            "--quiet",
            "--compact",
            "-o",
            "json",
            "--framework",
            "dockerfile",
            "kubernetes",
            *args,
        ],
        target.root,
        timeout=900,
    )
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        return _broken("checkov", started, proc)
    reports = json.loads(proc.stdout)
    findings = []
    names = {str(path): f"rendered/{path.name}" for path in rendered}
    for report in reports if isinstance(reports, list) else [reports]:
        for item in report.get("results", {}).get("failed_checks", []):
            path = item.get("file_abs_path") or item["file_path"]
            file = names.get(path) or _relative(
                target.root, path.lstrip("/") if not Path(path).is_absolute() else path
            )
            line = (item.get("file_line_range") or [None])[0]
            findings.append(
                Finding("checkov", item["check_id"], f"{item['check_name']} ({item['resource']})", file, line)
            )
    what = f"{len(files) - len(rendered)} files" + (
        f" and {len(rendered)} rendered manifests" if rendered else ""
    )
    return _check("checkov", findings, started, what=what)


def pip_audit(target: Target, requirement_files: Sequence[str]) -> CheckResult:
    """Known vulnerabilities in the locked dependencies — *not run* unless every package was audited.

    pip-audit exits 0 and says "No known vulnerabilities found" even when its vulnerability service
    could not be reached and every package was skipped; the JSON's ``skip_reason`` tells the truth.
    """
    started = time.monotonic()
    args = [arg for name in requirement_files for arg in ("-r", name)]
    proc = _run(
        [
            _tool("pip-audit"),
            "--disable-pip",
            "--require-hashes",
            "--progress-spinner",
            "off",
            "--timeout",
            "15",
            "-f",
            "json",
            *args,
        ],
        target.root,
        timeout=600,
    )
    try:
        document: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        return CheckResult(
            "pip-audit",
            Status.not_run,
            f"vulnerability service unreachable: {tail[0]}",
            [],
            time.monotonic() - started,
        )
    deps = document.get("dependencies", [])
    skipped = [dep for dep in deps if dep.get("skip_reason")]
    if not deps or skipped:
        reason = skipped[0]["skip_reason"] if skipped else "no dependency was audited"
        return CheckResult(
            "pip-audit",
            Status.not_run,
            f"{len(skipped)} of {len(deps)} packages could not be audited ({reason})",
            [],
            time.monotonic() - started,
        )
    findings = [
        Finding(
            "pip-audit",
            vuln["id"],
            f"{dep['name']} {dep['version']}: fixed in "
            f"{', '.join(vuln.get('fix_versions', [])) or 'no release yet'}",
            requirement_files[0],
        )
        for dep in deps
        for vuln in dep.get("vulns", [])
    ]
    return _check("pip-audit", findings, started, what=f"{len(deps)} locked packages")
