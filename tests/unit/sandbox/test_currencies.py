"""``flex_provider.sandbox.currencies``: major <-> minor units by ISO 4217 exponents (the sandbox's own table)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flex_provider.sandbox.currencies import exponent, to_major, to_minor


@pytest.mark.parametrize(
    ("currency", "places"), [("USD", 2), ("eur", 2), ("JPY", 0), (" krw ", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)]
)
def test_exponent(currency: str, places: int) -> None:
    assert exponent(currency) == places


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("12.34", "USD", 1234), ("500", "JPY", 500), ("1.5", "KWD", 1500), ("0.0001", "CLF", 1), ("7", "USD", 700)],
)
def test_to_minor_and_back(amount: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(amount), currency) == minor
    assert to_major(minor, currency) == Decimal(amount)


def test_more_decimals_than_the_currency_has_is_none() -> None:
    assert to_minor(Decimal("1.005"), "USD") is None
    assert to_minor(Decimal("1.5"), "JPY") is None
    assert str(to_major(100, "JPY")) == "100"
    assert str(to_major(5, "USD")) == "0.05"
