"""Money on the wire: decimal strings only, currency precision, exact minor units."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError
from walletstubs.common.money import Amount, Currency, to_decimal_string, to_minor


class _Body(BaseModel):
    amount: Amount
    currency: Currency


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.34", "EUR", 1234),
        ("0.01", "USD", 1),
        ("1200", "JPY", 1200),
        ("1000000000", "GBP", 100_000_000_000),
    ],
)
def test_round_trip(amount: str, currency: str, minor: int) -> None:
    assert to_minor(amount, currency) == minor
    assert to_decimal_string(minor, currency) == (
        amount if "." in amount or currency == "JPY" else f"{amount}.00"
    )


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (12.34, "valid string"),
        ("0", "greater than zero"),
        ("0.00", "greater than zero"),
        ("-1", "pattern"),
        ("1e3", "pattern"),
        (" 1.00", "pattern"),
        ("1000000000.01", "at most"),
    ],
)
def test_bad_amounts_are_refused(amount: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _Body(amount=amount, currency="EUR")  # type: ignore[arg-type]


def test_over_precise_amounts_are_refused_per_currency() -> None:
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        to_minor("1.001", "EUR")
    with pytest.raises(ValueError, match="more than 0 decimal places"):
        to_minor("1.5", "JPY")
    with pytest.raises(ValidationError, match="unsupported currency"):
        _Body(amount="1.00", currency="XXX")


def test_negative_minor_units_format_with_sign() -> None:
    assert to_decimal_string(-5, "EUR") == "-0.05"
