"""Locate the walletops project (the folder holding ``Pulumi.yaml``) the way Pulumi does."""

from __future__ import annotations

from pathlib import Path

from contracts.errors import UsageProblem

ENVIRONMENTS: tuple[str, ...] = ("dev", "qa", "stage", "prod")
"""The four environments, in promotion order."""


def find_project_dir(start: Path | None = None) -> Path:
    """Return the nearest folder at or above ``start`` (default: cwd) that holds ``Pulumi.yaml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    raise UsageProblem(f"{here}: no Pulumi.yaml here or in any parent folder; pass --project-dir DIR")


def resolve_project_dir(project_dir: Path | None) -> Path:
    """An explicit ``--project-dir`` must hold ``Pulumi.yaml``; otherwise search upwards from cwd."""
    if project_dir is None:
        return find_project_dir()
    folder = project_dir.resolve()
    if not (folder / "Pulumi.yaml").is_file():
        raise UsageProblem(f"--project-dir {project_dir}: no Pulumi.yaml in that folder")
    return folder


def expand_envs(env: str) -> list[str]:
    """``all`` → the four environments in promotion order; otherwise one known environment."""
    if env == "all":
        return list(ENVIRONMENTS)
    if env not in ENVIRONMENTS:
        raise UsageProblem(f"--env {env!r}: unknown environment; allowed: {', '.join(ENVIRONMENTS)} or all")
    return [env]
