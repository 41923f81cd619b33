"""SARIF for code scanning: one run per tool, results at file and line, fingerprints that survive moves."""

from __future__ import annotations

from pipelines.results import CheckResult, Finding, Status, StepResult
from pipelines.sarif import to_sarif


def _step(line: int) -> StepResult:
    return StepResult(
        "review",
        checks=[
            CheckResult(
                "x",
                Status.failed,
                "s",
                [
                    Finding("zizmor", "unpinned-uses", "unpinned action", ".github/workflows/a.yml", line),
                    Finding("policy", "WO-BUD-001", "dev: no budget", None, None, "warning"),
                ],
            )
        ],
    )


def test_each_tool_is_a_run_and_each_finding_points_at_its_file_and_line() -> None:
    document = to_sarif(_step(12))
    assert document["version"] == "2.1.0"
    runs = {run["tool"]["driver"]["name"]: run for run in document["runs"]}
    assert set(runs) == {"zizmor", "policy"}
    result = runs["zizmor"]["results"][0]
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": ".github/workflows/a.yml"},
        "region": {"startLine": 12},
    }
    assert result["level"] == "error" and runs["policy"]["results"][0]["level"] == "warning"
    assert (
        runs["policy"]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "Pulumi.yaml"
    )


def test_a_finding_that_moved_keeps_its_fingerprint() -> None:
    before = to_sarif(_step(12))["runs"][1]["results"][0]["partialFingerprints"]
    after = to_sarif(_step(40))["runs"][1]["results"][0]["partialFingerprints"]
    assert before == after


def test_a_clean_review_is_still_a_valid_sarif_document() -> None:
    document = to_sarif(StepResult("review"))
    assert document["runs"] == [{"tool": {"driver": {"name": "walletops", "rules": []}}, "results": []}]
