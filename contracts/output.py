"""Shared output helpers: every data-producing command prints a table or JSON to stdout or a file."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


class Format(StrEnum):
    """Output formats shared by all commands; commands accept the subset that makes sense."""

    table = "table"
    json = "json"
    md = "md"
    csv = "csv"
    html = "html"
    sarif = "sarif"
    terraform_plan = "terraform-plan"


def to_json(data: Any) -> str:
    """Stable JSON (sorted keys, two-space indent) so equal data gives byte-identical files."""
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def write_text(text: str, output: Path | None) -> None:
    """Write ``text`` to ``output`` (creating folders), or to stdout when no file is given."""
    if output is None:
        console.file.write(text)
        console.file.flush()
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {output}")
