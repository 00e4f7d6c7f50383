"""Minor units by ISO 4217 exponent: expectations are written out by hand from the standard's table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flex_provider.money import MoneyError, exponent, format_major, is_currency, to_major, to_minor


@pytest.mark.parametrize(
    ("currency", "digits"),
    [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)],
)
def test_exponent_from_iso_4217(currency: str, digits: int) -> None:
    assert exponent(currency) == digits


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("19.99", "USD", 1999),
        ("100", "JPY", 100),
        ("1.5", "KWD", 1500),
        ("0.001", "KWD", 1),
        ("7", "USD", 700),
    ],
)
def test_to_minor(amount: str, currency: str, minor: int) -> None:
    assert to_minor(amount, currency) == minor
    assert to_minor(Decimal(amount), currency) == minor


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(1999, "USD", "19.99"), (100, "JPY", "100"), (1500, "KWD", "1.500"), (5, "USD", "0.05")],
)
def test_format_major(minor: int, currency: str, text: str) -> None:
    assert format_major(minor, currency) == text
    assert to_major(minor, currency) == Decimal(text)


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1.5", "JPY"), ("1.005", "USD"), ("abc", "USD"), ("NaN", "USD"), ("1", "usd"), ("1", "XXX")],
)
def test_refused(amount: str, currency: str) -> None:
    with pytest.raises(MoneyError):
        to_minor(amount, currency)


def test_float_is_refused() -> None:
    with pytest.raises(MoneyError):
        to_minor(19.99, "USD")  # type: ignore[arg-type]


def test_is_currency() -> None:
    assert is_currency("USD")
    assert not is_currency("usd")
    assert not is_currency("US")
    assert not is_currency(None)
