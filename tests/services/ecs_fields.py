"""The ECS field reference, and the check of real log lines against it.

The reference is a trimmed extract (field name -> type) of ``generated/ecs/ecs_flat.yml`` of the
``elastic/ecs`` repository at a release tag, kept in ``tests/data/ecs_fields_8.17.0.json`` with its
source, path and commit. Custom fields are allowed only under ``labels.*``, as strings (keyword).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "data" / "ecs_fields_8.17.0.json").read_text())
FIELDS: dict[str, str] = REFERENCE["fields"]
DATASETS = {"walletops.service", "walletops.audit", "walletops.access"}
_STRINGS = {"keyword", "constant_keyword", "wildcard", "match_only_text", "text", "ip", "flattened"}
_NUMBERS = {
    "long",
    "integer",
    "short",
    "byte",
    "float",
    "double",
    "scaled_float",
    "half_float",
    "unsigned_long",
}
_LABEL = re.compile(r"^labels\.[a-z0-9_]+$")


def flatten(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Leaf fields by their dotted name (keys may themselves be dotted, as ecs-logging writes some)."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _type_ok(kind: str, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    if kind in _STRINGS:
        return all(isinstance(item, str) for item in values)
    if kind in _NUMBERS:
        return all(isinstance(item, int | float) and not isinstance(item, bool) for item in values)
    if kind == "boolean":
        return all(isinstance(item, bool) for item in values)
    if kind == "date":
        return all(
            isinstance(item, str) and datetime.fromisoformat(item.replace("Z", "+00:00")) for item in values
        )
    return False


def problems(line: dict[str, Any]) -> list[str]:
    """What is wrong with one log line: fields outside ECS, wrong types, missing identity/dataset."""
    found = []
    flat = flatten(line)
    for name, value in flat.items():
        if name.startswith("labels."):
            if not _LABEL.match(name) or not isinstance(value, str):
                found.append(f"{name}={value!r}: labels are flat lower-case names with string values")
        elif name not in FIELDS:
            found.append(f"{name}: not an ECS field")
        elif not _type_ok(FIELDS[name], value):
            found.append(f"{name}={value!r}: not a valid {FIELDS[name]}")
    for required in ("@timestamp", "message", "service.name", "service.version", "service.environment"):
        if not flat.get(required):
            found.append(f"{required}: missing")
    dataset = flat.get("event.dataset")
    if dataset not in DATASETS:
        found.append(f"event.dataset={dataset!r}: allowed: {', '.join(sorted(DATASETS))}")
    stream = (
        flat.get("data_stream.type"),
        flat.get("data_stream.dataset"),
        flat.get("data_stream.namespace"),
    )
    if stream != ("logs", dataset, flat.get("service.environment")):
        found.append(f"data_stream {stream}: must be logs, the event.dataset and the environment")
    return found


def log_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a service's log, each of which must be a JSON object."""
    lines = []
    for number, text in enumerate(path.read_text().splitlines(), 1):
        document = json.loads(text)
        assert isinstance(document, dict), f"{path}:{number} is not a JSON object"
        lines.append(document)
    return lines
