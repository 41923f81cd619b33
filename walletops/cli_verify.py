"""``walletops verify [--hosts URI]``: the testinfra checks of ``tests/verification`` against hosts or pods.

A thin wrapper over pytest so the checks run the same way from CI, a laptop or an operator's shell;
pytest's exit code passes through (0 all checks passed, 1 a check failed, 2+ usage or collection
problems).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from contracts.errors import UsageProblem
from contracts.project import resolve_project_dir
from walletops.options import ProjectDir

SUITE = Path("tests") / "verification"
STATE_ENV = "WALLETOPS_VERIFY_STATE_DIR"
"""Read by tests/verification/conftest.py: verify this running stack instead of starting one."""
ALLOWED_SCHEMES = ("local://", "kubectl://", "ssh://", "paramiko://", "docker://", "podman://")


def verify(
    hosts: Annotated[
        str | None,
        typer.Option(
            "--hosts",
            help="testinfra host URIs, comma-separated (e.g. kubectl://wallet-0?namespace=wallet); "
            "default: the local real stack, started and stopped by the suite.",
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir", help="With local hosts: verify this running stack instead of starting one."
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Also write a JUnit XML report here.")] = None,
    project_dir: ProjectDir = None,
) -> None:
    """Run the testinfra verification suite; exit code is pytest's."""
    folder = resolve_project_dir(project_dir)
    suite = folder / SUITE
    if not suite.is_dir():
        raise UsageProblem(f"{suite}: verification suite not found")
    argv = [sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider", "-q"]
    if hosts:
        for uri in hosts.split(","):
            if not uri.startswith(ALLOWED_SCHEMES):
                raise UsageProblem(f"--hosts {uri!r}: allowed schemes: {', '.join(ALLOWED_SCHEMES)}")
        argv += ["--hosts", hosts]
    env = dict(os.environ)
    if state_dir is not None:
        env[STATE_ENV] = str(state_dir.resolve())
    if junit is not None:
        argv += ["--junitxml", str(junit)]
    result = subprocess.run(argv, cwd=folder, env=env, check=False)
    raise typer.Exit(result.returncode)
