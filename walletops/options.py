"""Options shared by every subcommand, so each reads the same way everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ProjectDir = Annotated[
    Path | None,
    typer.Option(
        "--project-dir",
        help="Folder holding Pulumi.yaml (default: searched upwards from the current folder).",
        file_okay=False,
    ),
]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")]
Env = Annotated[str, typer.Option("--env", "-e", help="dev, qa, stage, prod or all.")]
