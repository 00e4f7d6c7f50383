"""The sandbox's own card-number check: literal cards from the networks' published test numbers."""

from __future__ import annotations

import pytest

from flex_provider.sandbox.cards import holds_card_number


@pytest.mark.parametrize(
    "text",
    ["4111111111111111", "card 4000 0027 6000 3184 here", "5555-5555-5555-4444", "378282246310005"],
)
def test_card_numbers_are_found(text: str) -> None:
    assert holds_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",  # Luhn fails
        "123456789012",  # 12 digits: too short
        "7d9f2c1e-4b5a-4c3d-8e9f-101112131415",  # a GUID (a token or sense key)
        "tok_4111",
        None,
        4111111111111111,
    ],
)
def test_other_values_are_not(text: object) -> None:
    assert not holds_card_number(text)
