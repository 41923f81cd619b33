"""A small IAM evaluator for tests: identity policies within a permissions boundary, explicit deny wins.

Supports what the program's documents use: Action/NotAction and Resource with ``*``/``?`` wildcards
(actions case-insensitive), and the StringEquals, StringNotEquals, StringLike, ArnEquals/ArnLike and
ArnNotEquals condition operators over a request context (a key absent from the context fails the
positive operators and satisfies the negated ones, as in IAM). Enough to prove who may do what, not a
full engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]) -> bool:
    if "Action" in statement:
        if not any(fnmatchcase(action.lower(), str(p).lower()) for p in _list(statement["Action"])):
            return False
    elif any(fnmatchcase(action.lower(), str(p).lower()) for p in _list(statement.get("NotAction", []))):
        return False
    if not any(fnmatchcase(resource, str(p)) for p in _list(statement.get("Resource", "*"))):
        return False
    for operator, conditions in statement.get("Condition", {}).items():
        for key, expected in conditions.items():
            actual = context.get(key)
            values = [str(v) for v in _list(expected)]
            if operator == "StringEquals" and actual not in values:
                return False
            if operator == "StringNotEquals" and actual in values:
                return False
            like = actual is not None and any(fnmatchcase(actual, v) for v in values)
            if operator in ("StringLike", "ArnLike", "ArnEquals") and not like:
                return False
            if operator in ("ArnNotEquals", "ArnNotLike") and like:
                return False
    return True


def _decision(
    document: str | Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]
) -> str:
    parsed = json.loads(document) if isinstance(document, str) else document
    allowed = False
    for statement in _list(parsed["Statement"]):
        if _matches(statement, action, resource, context):
            if statement["Effect"] == "Deny":
                return "deny"
            allowed = True
    return "allow" if allowed else "implicit-deny"


def is_allowed(
    identity: list[str],
    boundary: str | None,
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> bool:
    """Whether a principal with these identity policies (and boundary) may do ``action`` on ``resource``."""
    ctx = dict(context or {})
    decisions = [_decision(document, action, resource, ctx) for document in identity]
    if "deny" in decisions or "allow" not in decisions:
        return False
    return boundary is None or _decision(boundary, action, resource, ctx) == "allow"
