"""Reading the toolkit's inputs: YAML (gateway spec, SLO files, profiles, waivers) into models, and the
per-environment JSON documents the commands write (plans, cost reports, load-test summaries).

One place decides how a missing file, malformed YAML and an invalid value are reported: as usage
problems (exit 2), one line per problem, each starting with the caller's label (a file name or the
option that named it), never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from contracts.errors import UsageProblem

Model = TypeVar("Model", bound=BaseModel)


def read_yaml(path: Path, label: str) -> Any:
    """The YAML document at ``path``; a missing file or malformed YAML names ``label`` (and line:column)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageProblem(f"{label}: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageProblem(f"{label}{where}: malformed YAML: {reason}") from None


def validate(model: type[Model], document: Any, label: str) -> Model:
    """``document`` as ``model``; every validation error becomes a line ``label: key = value: message``."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise UsageProblem([_line(error, label) for error in exc.errors(include_url=False)]) from None


def load_yaml_model(model: type[Model], path: Path, label: str) -> Model:
    """Read and validate one YAML file."""
    return validate(model, read_yaml(path, label), label)


def _line(error: Any, label: str) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return f"{label}: {message}"
    key = ".".join(str(part) for part in error["loc"])
    return f"{label}: {key} = {error.get('input')!r}: {message}"


def read_json_document(path: Path, option: str) -> Any:
    """The JSON document at ``path``; a missing file or malformed JSON names ``option`` and the path."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageProblem(f"{option} {path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"{option} {path}: not JSON ({exc.msg} at line {exc.lineno})") from None
