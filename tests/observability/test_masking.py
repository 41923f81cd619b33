"""The masking pipeline against the shared case table, evaluated on the JVM as Elasticsearch does."""

from __future__ import annotations

from pathlib import Path

import yaml
from java_masking import mask_on_jvm

from observability.masking import (
    MAP_FIELDS,
    PAN_FUNCTIONS,
    REPLACEMENTS,
    TEXT_FIELDS,
    mask_pipeline,
    pan_script,
)

CASES = yaml.safe_load((Path(__file__).resolve().parents[1] / "data" / "masking_cases.yaml").read_text())[
    "cases"
]


def test_every_case_is_masked_exactly_on_the_jvm(tmp_path: Path) -> None:
    masked = mask_on_jvm([case["input"] for case in CASES], tmp_path)
    wrong = [(case["name"], got) for case, got in zip(CASES, masked, strict=True) if got != case["masked"]]
    assert wrong == []
    assert len(masked) == len(CASES) >= 16


def test_masking_is_idempotent(tmp_path: Path) -> None:
    once = [case["masked"] for case in CASES]
    assert mask_on_jvm(once, tmp_path) == once


def test_pipeline_masks_every_listed_field_with_every_rule_then_card_numbers_everywhere() -> None:
    processors = mask_pipeline()["processors"]
    gsubs = {(p["gsub"]["field"], p["gsub"]["pattern"]) for p in processors if "gsub" in p}
    assert gsubs == {(field, rule.pattern) for field in TEXT_FIELDS for rule in REPLACEMENTS}
    loops = {
        (p["foreach"]["field"], p["foreach"]["processor"]["gsub"]["pattern"])
        for p in processors
        if "foreach" in p
    }
    assert loops == {(field, rule.pattern) for field in MAP_FIELDS for rule in REPLACEMENTS}
    assert processors[0] == {"dot_expander": {"field": "*", "tag": "expand-dotted-names"}}
    assert processors[-1]["script"]["source"] == pan_script()
    assert pan_script().startswith(PAN_FUNCTIONS)


def test_a_masking_failure_drops_the_fields_that_may_hold_secrets() -> None:
    removed = mask_pipeline()["on_failure"][0]["remove"]["field"]
    assert set(removed) == {*TEXT_FIELDS, *MAP_FIELDS}
