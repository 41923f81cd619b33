"""The services mask card numbers, e-mail addresses, bearer tokens and API keys exactly as the table
``tests/data/masking_cases.yaml`` says (the same table drives the ingest pipelines' tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from walletstubs.common.masking import luhn_valid, mask, mask_document

CASES: list[dict[str, str]] = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "data" / "masking_cases.yaml").read_text()
)["cases"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_each_case_masks_exactly_as_the_table_says(case: dict[str, str]) -> None:
    assert mask(case["input"]) == case["masked"]
    assert mask(case["masked"]) == case["masked"], "masking a masked text must change nothing"


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_every_string_of_a_document_is_masked(case: dict[str, str]) -> None:
    document: dict[str, Any] = {
        "message": case["input"],
        "url": {"path": case["input"], "query": case["input"]},
        "error": {"message": case["input"]},
        "labels": {"detail": case["input"]},
        "http": {"response": {"status_code": 200}},
        "event": {"category": [case["input"]]},
    }
    masked = mask_document(document)
    assert masked["message"] == masked["url"]["path"] == masked["url"]["query"] == case["masked"]
    assert masked["error"]["message"] == masked["labels"]["detail"] == masked["event"]["category"][0]
    assert masked["error"]["message"] == case["masked"]
    assert masked["http"]["response"]["status_code"] == 200


def test_luhn_check() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112") and not luhn_valid("1234567812345678")


def test_a_card_number_followed_by_another_number_is_still_masked() -> None:
    assert mask("GET /v1/cards/4111111111111111 404") == "GET /v1/cards/[masked-pan] 404"
    assert mask("card 4111 1111 1111 1111 2026") == "card [masked-pan] 2026"
    assert mask("order 1234567812345678 404") == "order 1234567812345678 404"
