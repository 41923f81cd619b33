"""Any Pulumi program under mocks: resources with the file and line that declared them."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.errors import UsageProblem
from pipelines.programs import plan_program, program_file

DEFECTS = Path(__file__).resolve().parent / "defects"


def _line(text: str) -> int:
    return next(
        i for i, line in enumerate((DEFECTS / "__main__.py").read_text().splitlines(), 1) if text in line
    )


def test_resources_carry_the_line_of_the_program_that_declared_them() -> None:
    plan, sources = plan_program(DEFECTS)
    by_name = {r["name"]: r for r in plan.resources}
    assert set(by_name) == {"web", "ledger"}
    assert sources[by_name["web"]["urn"]] == ("__main__.py", _line('"web",') - 1)
    assert sources[by_name["ledger"]["urn"]] == ("__main__.py", _line('"ledger",') - 1)
    assert by_name["ledger"]["inputs"]["storageEncrypted"] is False


def test_a_folder_without_a_python_pulumi_program_is_a_usage_problem(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem, match=r"no Pulumi\.yaml"):
        program_file(tmp_path)
    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime: nodejs\n")
    with pytest.raises(UsageProblem, match="not python"):
        program_file(tmp_path)
    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime:\n  name: python\n")
    (tmp_path / "__main__.py").write_text("raise RuntimeError('broken program')\n")
    with pytest.raises(UsageProblem, match="broken program"):
        plan_program(tmp_path)
