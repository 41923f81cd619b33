"""The review's tool adapters: real tools on small inputs, and the rules that decide pass, fail or not run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipelines import scanners
from pipelines.results import Status
from pipelines.scanners import Target

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"


def _target(root: Path) -> Target:
    files = tuple(sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()))
    return Target(root=root, files=files, tools=TOOLS)


def test_a_bandit_finding_carrying_rufs_noqa_for_the_same_check_is_suppressed(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        'import tempfile\nopen("/tmp/x")  # noqa: S108 (reason)\nprint(tempfile.gettempdir(), "/tmp/y")\n'
    )
    result = scanners.bandit(_target(tmp_path))
    assert result.status is Status.failed
    assert [(f.rule, f.line) for f in result.findings] == [("B108", 3)]


def test_pip_audit_that_audited_nothing_is_not_run_never_passed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    document: dict[str, Any] = {
        "dependencies": [
            {
                "name": "fastapi",
                "version": "0.1",
                "skip_reason": "Dependency not found on PyPI and could not be audited",
            }
        ]
    }

    def fake_run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 0, json.dumps(document), "No known vulnerabilities found")

    monkeypatch.setattr(scanners, "_run", fake_run)
    result = scanners.pip_audit(_target(tmp_path), ["requirements.lock"])
    assert result.status is Status.not_run
    assert "1 of 1 packages could not be audited" in result.summary
    document = {
        "dependencies": [
            {"name": "jinja2", "version": "2.0", "vulns": [{"id": "PYSEC-1", "fix_versions": ["3.1"]}]}
        ]
    }
    failed = scanners.pip_audit(_target(tmp_path), ["requirements.lock"])
    assert failed.status is Status.failed and failed.findings[0].rule == "PYSEC-1"


def test_pip_audit_without_its_service_here_is_reported_not_run() -> None:
    result = scanners.pip_audit(
        Target(ROOT, ("services-stub/docker/requirements.txt",), TOOLS),
        ["services-stub/docker/requirements.txt"],
    )
    assert result.status is Status.not_run, result.summary


def test_secrets_audited_into_the_baseline_pass_and_new_ones_fail(tmp_path: Path) -> None:
    (tmp_path / "config.py").write_text('PASSWORD = "hunter2-but-longer-value"\n')  # pragma: allowlist secret
    first = scanners.detect_secrets(_target(tmp_path))
    assert first.status is Status.failed and first.findings[0].line == 1
    scan = json.loads(
        subprocess.run(
            [str(scanners.BIN / "detect-secrets"), "scan", "config.py"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    for entries in scan["results"].values():
        for entry in entries:
            entry["is_secret"] = False
    (tmp_path / ".secrets.baseline").write_text(json.dumps(scan))
    assert scanners.detect_secrets(_target(tmp_path)).status is Status.passed
    (tmp_path / "more.py").write_text('aws_key = "AKIAZ7Q3TWLM4DEF5XQP"\n')  # pragma: allowlist secret
    again = scanners.detect_secrets(_target(tmp_path))
    assert again.status is Status.failed and {f.file for f in again.findings} == {"more.py"}


def test_hadolint_and_yamllint_report_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM base@sha256:" + "0" * 64 + '\nUSER root\nCMD ["x"]\n')
    (tmp_path / "a.yaml").write_text("a: 1\na: 2\n")
    hadolint = scanners.hadolint(_target(tmp_path))
    assert ("DL3002", "Dockerfile", 2) in {(f.rule, f.file, f.line) for f in hadolint.findings}
    yamllint = scanners.yamllint(_target(tmp_path))
    assert yamllint.status is Status.failed and ("key-duplicates", 2) in {
        (f.rule, f.line) for f in yamllint.findings
    }


def test_a_missing_tool_fails_its_check_with_the_way_to_install_it(tmp_path: Path) -> None:
    result = scanners.guarded("checkov", scanners.checkov)(
        Target(tmp_path, ("Dockerfile",), tmp_path / "none")
    )
    assert result.status is Status.failed and "scripts/bootstrap" in result.summary


@pytest.mark.parametrize("scan", [scanners.actionlint, scanners.zizmor, scanners.workflow_schema])
def test_the_projects_workflows_have_no_findings(scan: object) -> None:
    workflows = tuple(
        p.relative_to(ROOT).as_posix() for p in sorted((ROOT / ".github/workflows").glob("*.yml"))
    )
    assert len(workflows) == 4
    result = scan(Target(ROOT, workflows, TOOLS))  # type: ignore[operator]
    assert result.status is Status.passed, [(f.rule, f.file, f.line, f.message) for f in result.findings]
    assert result.findings == []
