"""``walletops pipeline review`` fails on every seeded defect and names its file and line.

The fixture project ``tests/pipelines/defects`` holds one of each defect the issue names; the review
runs on it once through the command line (the same path CI takes) and every defect must be reported
where it is. The repository itself is reviewed by ``scripts/test`` (``walletops pipeline review``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipelines.results import Finding, StepResult
from pipelines.review import markdown, review_files, settings
from walletops.cli import _register, app

DEFECTS = Path(__file__).resolve().parent / "defects"
ROOT = DEFECTS.parents[2]


def _line(file: str, text: str) -> int:
    return next(i for i, line in enumerate((DEFECTS / file).read_text().splitlines(), 1) if text in line)


@pytest.fixture(scope="module")
def defects_review(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("review")
    _register(["pipeline"])
    result = CliRunner().invoke(
        app,
        [
            "pipeline",
            "review",
            "--project-dir",
            str(DEFECTS),
            "--no-audit",
            "--format",
            "json",
            "--output",
            str(out / "review.json"),
            "--sarif",
            str(out / "review.sarif"),
            "--markdown",
            str(out / "pr.md"),
        ],
    )
    assert result.exit_code == 1, result.output
    return {
        "review": json.loads((out / "review.json").read_text()),
        "sarif": json.loads((out / "review.sarif").read_text()),
        "markdown": (out / "pr.md").read_text(),
    }


def _findings(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for check in document["checks"] for f in check["findings"]]


def _has(document: dict[str, Any], tool: str, rule: str, file: str, line: int) -> bool:
    return any(
        f["tool"] == tool and f["rule"] == rule and f["file"] == file and f["line"] == line
        for f in _findings(document)
    )


@pytest.mark.parametrize(
    ("defect", "tool", "rule", "file", "marker"),
    [
        (
            "hard-coded AWS key pair",
            "detect-secrets",
            "AWS Access Key",
            "app/settings.py",
            "AWS_ACCESS_KEY_ID",
        ),
        ("0.0.0.0/0 ingress", "policy", "WO-VPC-003", "__main__.py", "web = aws.ec2.SecurityGroup("),
        ("unencrypted RDS instance", "policy", "WO-RDS-001", "__main__.py", "ledger = aws.rds.Instance("),
        ("privileged container", "checkov", "CKV_K8S_16", "k8s/privileged.yaml", "apiVersion"),
        (
            "unpinned third-party action",
            "zizmor",
            "unpinned-uses",
            ".github/workflows/unpinned.yml",
            "reviewdog/action-shellcheck@v1",
        ),
        (
            "pull_request_target checking out the PR",
            "zizmor",
            "dangerous-triggers",
            ".github/workflows/pr-target.yml",
            "pull_request_target",
        ),
        ("Dockerfile running as root", "hadolint", "DL3002", "docker/root.Dockerfile", "USER root"),
        ("Dockerfile running as root", "checkov", "CKV_DOCKER_8", "docker/root.Dockerfile", "USER root"),
    ],
)
def test_review_names_each_seeded_defect_with_file_and_line(  # noqa: PLR0917 (parametrized)
    defects_review: dict[str, Any], defect: str, tool: str, rule: str, file: str, marker: str
) -> None:
    document = defects_review["review"]
    assert document["status"] == "failed"
    assert _has(document, tool, rule, file, _line(file, marker)), (
        defect,
        [(f["tool"], f["rule"], f["file"], f["line"]) for f in _findings(document) if f["file"] == file],
    )


def test_the_defects_reach_sarif_and_the_pull_request_comment(defects_review: dict[str, Any]) -> None:
    results = [r for run in defects_review["sarif"]["runs"] for r in run["results"]]
    located = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results
    }
    assert ("WO-RDS-001", "__main__.py") in located and (
        "unpinned-uses",
        ".github/workflows/unpinned.yml",
    ) in located
    assert defects_review["markdown"].startswith("## walletops review: failed")
    assert "`app/settings.py:" in defects_review["markdown"]


def test_the_project_review_skips_the_defects_and_the_generated_pack_copy_only() -> None:
    exclude = settings(ROOT, "exclude")
    assert exclude == ["tests/pipelines/defects/*", "infra/policy/crossguard/walletops_guardrails/*"]
    files = review_files(ROOT, exclude)
    assert "pipelines/review.py" in files and ".github/workflows/deploy.yml" in files
    assert "infra/policy/crossguard/__main__.py" in files
    assert not any(name.startswith("tests/pipelines/defects/") for name in files)
    assert not any(name.startswith("infra/policy/crossguard/walletops_guardrails/") for name in files)
    assert any(name.startswith("tests/pipelines/defects/") for name in review_files(ROOT))


def test_markdown_lists_checks_and_findings_with_their_location() -> None:
    from pipelines.results import CheckResult, Status

    step = StepResult(
        "review",
        checks=[
            CheckResult(
                "ruff", Status.failed, "1 finding(s)", [Finding("ruff", "E501", "long | line", "a.py", 3)]
            ),
            CheckResult("pip-audit", Status.not_run, "service unreachable"),
        ],
    )
    text = markdown(step, cost_diff="### cost\n+1.00 USD")
    assert "| pip-audit | ⚪ not run | service unreachable |" in text
    assert "| ruff | E501 | `a.py:3` | long \\| line |" in text
    assert text.rstrip().endswith("+1.00 USD")
