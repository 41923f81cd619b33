"""Regenerate ``data/es-spec-extract.json``: the request bodies walletops sends, and every type they
reach, trimmed from the Elasticsearch API specification (elastic/elasticsearch-specification).

The full ``output/schema/schema.json`` is too large for the mirror we read from; its OpenAPI
rendering by the same project, ``output/openapi/elasticsearch-openapi.json`` (generated from that
schema: properties, required, unions as oneOf, enums, dictionaries as additionalProperties, arrays),
is used instead. Descriptions and docs links are dropped.

    git -C SPEC_REPO show 8.17:output/openapi/elasticsearch-openapi.json > openapi.json
    python tests/observability/extract_spec.py openapi.json --commit $(git -C SPEC_REPO rev-parse 8.17)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "data" / "es-spec-extract.json"
ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("PUT", "/_ilm/policy/{policy}"),
    ("PUT", "/_component_template/{name}"),
    ("PUT", "/_ingest/pipeline/{id}"),
    ("PUT", "/_index_template/{name}"),
    ("PUT", "/_snapshot/{repository}"),
    ("PUT", "/_slm/policy/{policy_id}"),
)
DROPPED = {"description", "externalDocs", "x-state", "x-beta", "deprecated", "discriminator"}


def _strip_schema(node: Any) -> Any:
    """Drop documentation keys but never a property that happens to be called ``description``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "properties":
                out[key] = {name: _strip_schema(prop) for name, prop in value.items()}
            elif key not in DROPPED:
                out[key] = _strip_schema(value)
        return out
    if isinstance(node, list):
        return [_strip_schema(item) for item in node]
    return node


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.add(value)
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _refs(item, found)


def extract(openapi: dict[str, Any], commit: str) -> dict[str, Any]:
    components = openapi["components"]
    bodies: dict[str, Any] = {}
    pending: set[str] = set()
    for method, path in ENDPOINTS:
        body = openapi["paths"][path][method.lower()]["requestBody"]
        bodies[f"{method} {path}"] = _strip_schema(body)
        _refs(body, pending)
    kept: dict[str, dict[str, Any]] = {}
    while pending:
        ref = pending.pop()
        _, _, section, name = ref.split("/", 3)
        if name in kept.get(section, {}):
            continue
        schema = _strip_schema(components[section][name])
        kept.setdefault(section, {})[name] = schema
        more: set[str] = set()
        _refs(schema, more)
        pending |= {item for item in more if item.split("/", 3)[3] not in kept.get(item.split("/")[2], {})}
    return {
        "source": {
            "repository": "elastic/elasticsearch-specification",
            "path": "output/openapi/elasticsearch-openapi.json",
            "branch": "8.17",
            "commit": commit,
            "generated_by": "tests/observability/extract_spec.py",
        },
        "endpoints": bodies,
        "components": {section: dict(sorted(items.items())) for section, items in sorted(kept.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("openapi", type=Path)
    parser.add_argument("--commit", required=True)
    args = parser.parse_args()
    data = extract(json.loads(args.openapi.read_text(encoding="utf-8")), args.commit)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
