"""Money as decimal strings on the wire and integer minor units in storage (never floats).

Amounts are JSON strings such as ``"12.34"``: positive, at most the currency's number of decimal
places, at most one billion units. Storage uses integer minor units so SQLite and PostgreSQL agree
to the cent.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, ValidationInfo

CURRENCY_EXPONENTS: dict[str, int] = {"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "JPY": 0}
MAX_UNITS = 1_000_000_000
_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,8})?$")


def _currency(value: str) -> str:
    if value not in CURRENCY_EXPONENTS:
        raise ValueError(f"unsupported currency; allowed: {', '.join(sorted(CURRENCY_EXPONENTS))}")
    return value


def _amount(value: str) -> str:
    if not _AMOUNT.match(value):
        raise ValueError('must be a positive decimal string such as "12.34" (no sign, exponent or spaces)')
    amount = Decimal(value)
    if amount <= 0:
        raise ValueError("must be greater than zero")
    if amount > MAX_UNITS:
        raise ValueError(f"must be at most {MAX_UNITS}")
    return value


Currency = Annotated[
    str,
    Field(
        description="ISO 4217 code", examples=["EUR"], json_schema_extra={"enum": sorted(CURRENCY_EXPONENTS)}
    ),
    AfterValidator(_currency),
]
Amount = Annotated[
    str,
    StringConstraints(strict=True),
    Field(
        description="Positive decimal string with at most the currency's decimal places (2 for EUR)",
        examples=["12.34"],
        pattern=r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,8})?$",
    ),
    AfterValidator(_amount),
]


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (SQLite hands back naive ones)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def to_minor(amount: str, currency: str) -> int:
    """``"12.34"`` EUR -> 1234; raises ValueError when more precise than the currency allows."""
    exponent = CURRENCY_EXPONENTS[currency]
    scaled = Decimal(amount).scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"has more than {exponent} decimal places, the precision of {currency}")
    return int(scaled)


def to_decimal_string(minor: int, currency: str) -> str:
    """1234 EUR -> ``"12.34"``; -5 EUR -> ``"-0.05"``."""
    exponent = CURRENCY_EXPONENTS[currency]
    return str(Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))


def precise_for_currency(amount: str, info: ValidationInfo) -> str:
    """Field validator: ``amount`` has no more decimals than the model's ``currency`` allows.

    Reuse it as ``_precision = field_validator("amount")(precise_for_currency)``; ``currency`` must be
    declared before the amount field so that it is validated first.
    """
    currency = info.data.get("currency")
    if currency is not None:
        to_minor(amount, currency)
    return amount
