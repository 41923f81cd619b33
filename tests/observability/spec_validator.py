"""A validator of request bodies against the trimmed Elasticsearch API specification.

It walks the extracted type definitions as the specification means them: objects are closed (a
property the type does not declare is an error), ``required`` properties must be present,
``allOf`` merges an inherited base with its own properties, ``oneOf``/``anyOf`` unions accept a value
that one alternative accepts, ``enum`` lists the allowed values, ``additionalProperties`` is a
dictionary of values of one type, ``items`` the elements of an array. A bare ``{"type": "object"}``
is the specification's user-defined value (``_meta`` entries, script params): anything goes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

EXTRACT = Path(__file__).parent / "data" / "es-spec-extract.json"
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


class SpecValidator:
    def __init__(self, extract: dict[str, Any] | None = None) -> None:
        self.spec = extract or json.loads(EXTRACT.read_text(encoding="utf-8"))
        self._cache: dict[int, dict[str, Any]] = {}
        self._seen: dict[tuple[int, int, str], tuple[Any, list[str]]] = {}
        """Results per (type, value, place): a value under several union alternatives is checked once
        (the value is kept so its id cannot be reused while cached)."""
        self.endpoints = {
            key: re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(key.split(" ", 1)[1])) + "$")
            for key in self.spec["endpoints"]
        }

    @property
    def source(self) -> dict[str, str]:
        return dict(self.spec["source"])

    def endpoint(self, method: str, path: str) -> str | None:
        """The specification's endpoint (``PUT /_ilm/policy/{policy}``) that ``method path`` calls."""
        for key, pattern in self.endpoints.items():
            if key.startswith(f"{method} ") and pattern.match(path.split("?", maxsplit=1)[0]):
                return key
        return None

    def validate(self, method: str, path: str, body: Any) -> list[str]:
        """Every way ``body`` breaks the specification of ``method path`` (empty: valid)."""
        key = self.endpoint(method, path)
        if key is None:
            return [f"{method} {path}: no such endpoint in the extract"]
        request_body = self._resolve(self.spec["endpoints"][key])
        return self.check(request_body["content"]["application/json"]["schema"], body, "body")

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            _, _, section, name = schema["$ref"].split("/", 3)
            schema = self.spec["components"][section][name]
        return schema

    def _merged(self, schema: dict[str, Any]) -> dict[str, Any]:
        """An ``allOf`` flattened into one object type (inherited properties and required merged)."""
        schema = self._resolve(schema)
        cached = self._cache.get(id(schema))
        if cached is not None:
            return cached
        self._cache[id(schema)] = merged = self._merge(schema)
        return merged

    def _merge(self, schema: dict[str, Any]) -> dict[str, Any]:
        if "allOf" not in schema:
            return schema
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            flat = self._merged(part)
            merged["properties"].update(flat.get("properties", {}))
            merged["required"].extend(flat.get("required", []))
            if "additionalProperties" in flat:
                merged["additionalProperties"] = flat["additionalProperties"]
        return merged

    def _contradicts(self, option: dict[str, Any], value: Any) -> bool:
        """A tagged alternative (a property with one allowed value, e.g. a mapping's ``type``) that
        ``value`` tags otherwise: skipped, as the specification's discriminator would."""
        if not isinstance(value, dict):
            return False
        properties = self._merged(option).get("properties", {})
        for name, item in value.items():
            if name in properties:
                enum = self._resolve(properties[name]).get("enum")
                if enum is not None and len(enum) == 1 and item != enum[0]:
                    return True
        return False

    def check(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        key = (id(self._resolve(schema)), id(value), where)
        if key not in self._seen:
            self._seen[key] = (value, self._check(schema, value, where))
        return self._seen[key][1]

    def _check(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        schema = self._merged(schema)
        if value is None:
            return [] if schema.get("nullable") else [f"{where}: null is not allowed"]
        for union in ("oneOf", "anyOf"):
            if union in schema:
                options = [option for option in schema[union] if not self._contradicts(option, value)]
                if not options:
                    return [f"{where}: no alternative of the union takes {json.dumps(value)[:60]}"]
                attempts = [self.check(option, value, where) for option in options]
                if any(not errors for errors in attempts):
                    return []
                closest = min(attempts, key=len)
                return [
                    f"{where}: matches none of {len(attempts)} alternatives; closest: {closest[0]}",
                    *closest[1:],
                ]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{where}: {value!r} is not one of {schema['enum']}"]
        kind = schema.get("type")
        if kind is None or (
            kind == "object" and "properties" not in schema and "additionalProperties" not in schema
        ):
            return []
        allowed = JSON_TYPES[kind]
        if not isinstance(value, allowed) or (kind in ("number", "integer") and isinstance(value, bool)):
            return [f"{where}: expected {kind}, got {type(value).__name__} {json.dumps(value)[:60]}"]
        if kind == "array":
            return [
                error
                for index, item in enumerate(value)
                for error in self.check(schema.get("items", {}), item, f"{where}[{index}]")
            ]
        if kind == "object":
            return self._object(schema, value, where)
        return []

    def _object(self, schema: dict[str, Any], value: dict[str, Any], where: str) -> list[str]:
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        errors: list[str] = []
        for bound, test in (
            ("minProperties", len(value) < schema.get("minProperties", 0)),
            ("maxProperties", len(value) > schema.get("maxProperties", len(value))),
        ):
            if test:
                errors.append(f"{where}: {len(value)} properties breaks {bound} {schema[bound]}")
        errors.extend(
            f"{where}: required property {name!r} is missing"
            for name in schema.get("required", [])
            if name not in value
        )
        for name, item in value.items():
            if properties is not None and name in properties:
                errors.extend(self.check(properties[name], item, f"{where}.{name}"))
            elif isinstance(extra, dict):
                errors.extend(self.check(extra, item, f"{where}.{name}"))
            else:
                errors.append(
                    f"{where}: unknown property {name!r}; allowed: {', '.join(sorted(properties or {}))}"
                )
        return errors
