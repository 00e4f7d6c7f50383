"""``flex_provider.pci``: card numbers are found by length and Luhn, masked to BIN + last four; GUIDs are not cards."""

from __future__ import annotations

import pytest

from flex_provider.pci import looks_like_pan, luhn_valid, mask_pans

# Published network test numbers (Visa, Mastercard, Amex, Diners 14 digits) and one digit changed.
CARDS = ["4111111111111111", "5555555555554444", "378282246310005", "30569309025904"]


@pytest.mark.parametrize("pan", CARDS)
def test_test_cards_pass_luhn_and_one_changed_digit_does_not(pan: str) -> None:
    assert luhn_valid(pan)
    changed = pan[:-1] + str((int(pan[-1]) + 1) % 10)
    assert not luhn_valid(changed)


@pytest.mark.parametrize(
    ("value", "is_pan"),
    [
        ("4111 1111 1111 1111", True),  # grouped by spaces
        ("note: 5555-5555-5555-4444.", True),  # grouped by dashes, inside text
        ("14111111111111111", False),  # 17 digits that fail Luhn as a whole (a longer number, not a card)
        ("411111111111", False),  # 12 digits: too short for a card
        ("order 20952833-5643-45d6-8a1b-1234567890ab", False),  # a GUID, even with a Luhn-valid digit run
        (None, False),
        (True, False),
        (4111111111111111, True),  # an int column holding a card
    ],
)
def test_looks_like_pan(value: object, is_pan: bool) -> None:
    assert looks_like_pan(value) is is_pan


def test_mask_keeps_bin_and_last_four_and_leaves_guids_alone() -> None:
    guid = "7d9f2c1e-4b5a-4c3d-8e9f-101112131415"
    text = f"token {guid} card 4111111111111111 amex 378282246310005 ref 12345"
    assert mask_pans(text) == f"token {guid} card 411111******1111 amex 378282*****0005 ref 12345"
    assert mask_pans("4111 1111 1111 1111") == "411111******1111"
    assert mask_pans("4111111111111112") == "4111111111111112"  # not Luhn-valid: not a card, unchanged
