"""Logs never carry card numbers, whatever a log call is given."""

from __future__ import annotations

import io
import json
import logging

from walletstubs.common.telemetry import configure_logging, mask_card_numbers


def test_card_numbers_are_masked_in_text() -> None:
    assert mask_card_numbers("card 4111 1111 1111 1111 used") == "card [masked-pan] used"
    assert mask_card_numbers("4111-1111-1111-1111") == "[masked-pan]"
    assert mask_card_numbers("order 12345 for 99.50") == "order 12345 for 99.50"


def test_log_lines_are_ecs_json_without_card_numbers() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("unit", "INFO")
        stream = io.StringIO()
        handler = root.handlers[0]
        handler.setStream(stream)  # type: ignore[attr-defined]
        logging.getLogger("walletstubs.test").info("charged %s at %d", "5500005555555559", 3)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["message"] == "charged [masked-pan] at 3"
    assert line["service"]["name"] == "unit" and "ecs.version" in line
