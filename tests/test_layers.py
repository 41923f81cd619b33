"""The layering holds: import-linter's contracts (``[tool.importlinter]`` in pyproject.toml) are kept,
and each contract breaks when a wrong arrow is planted in a copy of the code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "contracts": ROOT / "contracts",
    "walletops": ROOT / "walletops",
    "infra": ROOT / "infra",
    "cost": ROOT / "cost",
    "loadtests": ROOT / "loadtests",
    "pipelines": ROOT / "pipelines",
    "observability": ROOT / "observability",
    "walletstubs": ROOT / "services-stub" / "walletstubs",
}
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(project: Path, python_path: list[Path]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in python_path)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(project / "pyproject.toml")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_repository_keeps_every_import_contract() -> None:
    result = _lint(ROOT, [ROOT, ROOT / "services-stub"])
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The toolkit's packages and pyproject.toml, copied (Python files only) to plant arrows in."""
    for name, source in PACKAGES.items():
        shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("*.pyc", "__pycache__"))
        for path in (tmp_path / name).rglob("*"):
            if path.is_file() and path.suffix != ".py":
                path.unlink()
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("contracts/config.py", "import infra.program", "command line > areas > core"),
        ("cost/diff.py", "import walletops.cli", "command line > areas > core"),
        ("walletstubs/wallet/app.py", "import contracts.config", "services import nothing of the toolkit"),
        ("walletstubs/common/db.py", "import infra.planner", "services import nothing of the toolkit"),
        ("cost/estimator.py", "import infra.planner", "they never plan or build components"),
        ("infra/policy/engine.py", "import infra.network", "they never plan or build components"),
        ("infra/audit/checks.py", "import cost.estimator", "talk through the core, not to each other"),
        ("pipelines/review.py", "import infra.policy.engine", "talk through the core, not to each other"),
        ("pipelines/deploy.py", "import infra.planner", "they never plan or build components"),
        ("observability/kibana.py", "import walletops.cli", "command line > areas > core"),
        ("observability/ship.py", "import cost.estimator", "talk through the core, not to each other"),
    ],
)
def test_each_wrong_arrow_breaks_its_contract(copy: Path, module: str, planted: str, broken: str) -> None:
    path = copy / module
    path.write_text(path.read_text() + f"\n{planted}  # planted by the test\n")
    result = _lint(copy, [copy])
    assert result.returncode == 1
    assert f"{broken}" in result.stdout.split("Broken contracts")[-1], result.stdout[-3000:]
