"""Masking of sensitive values in anything a service writes to its logs.

The rules are those of ``tests/data/masking_cases.yaml``, the one table that also drives the
Elasticsearch ingest pipelines (the second line of defence): a Luhn-valid card number (13-19
digits, optionally grouped by single spaces or dashes) -> ``[masked-pan]``; an e-mail address ->
``[masked-email]``; a bearer token -> ``Bearer [masked-token]``; an API key given as ``x-api-key``,
``api_key`` or ``apikey`` -> the key name, its separator, then ``[masked-key]``. Digit runs that fail
the Luhn check (order ids, timestamps) stay. Masking is idempotent: a masked text masks to itself.
"""

from __future__ import annotations

import re
from typing import Any

_PAN = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_BEARER = re.compile(r"\bbearer\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_API_KEY = re.compile(
    r"\b(x-api-key|api_key|apikey)(\s*[:=]\s*)(?!\[masked-key\])[^\s&\"',;]+", re.IGNORECASE
)
_DIGITS = re.compile(r"\d(?:[ -]?\d){12}")


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` passes the Luhn check (the check digit of every card number)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _pan(match: re.Match[str]) -> str:
    return _mask_run(match.group(0))


def _mask_run(run: str) -> str:
    """A run of 13-19 digits (single separators allowed): masked when Luhn-valid; else its longest
    Luhn-valid leading group sequence is (a card number followed by another number, "4111… 404")."""
    if luhn_valid(run.replace(" ", "").replace("-", "")):
        return "[masked-pan]"
    for end in range(len(run) - 1, 0, -1):
        if run[end] in " -" and len(run[:end].replace(" ", "").replace("-", "")) >= 13:
            head = run[:end].replace(" ", "").replace("-", "")
            if luhn_valid(head):
                return "[masked-pan]" + run[end:]
    return run


def mask(text: str) -> str:
    """``text`` with every card number, e-mail address, bearer token and API key masked."""
    if "@" not in text and not _DIGITS.search(text):
        lowered = text.lower()
        if "bearer" not in lowered and "key" not in lowered:
            return text
    text = _PAN.sub(_pan, text)
    text = _EMAIL.sub("[masked-email]", text)
    text = _BEARER.sub("Bearer [masked-token]", text)
    return _API_KEY.sub(r"\1\2[masked-key]", text)


def mask_document(value: Any) -> Any:
    """Mask every string in a JSON-like document (dicts and lists walked recursively; keys kept)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: mask_document(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_document(item) for item in value]
    return value
