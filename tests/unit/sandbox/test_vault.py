"""``flex_provider.sandbox.vault``: only whitelisted test cards are vaulted, and never their number.

On a real sandbox state (SQLite file); the database file itself is searched for the card number.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flex_provider.sandbox.state import SandboxState
from flex_provider.sandbox.vault import card_brand

APPROVE = "4000002760003184"
CHALLENGE = "4111111111111111"


@pytest.fixture
def state(tmp_path: Path):
    s = SandboxState(tmp_path, seed=4, clock_speed=0)
    yield s
    s.close()


def _tokenize(state: SandboxState, pan: str) -> tuple[int, dict]:
    card = {"first_name": "Ann", "last_name": "Lee", "number": pan, "verification_value": "737", "month": "01",
            "year": "2030"}
    return state.tokenize(state.merchant.mid, {"payment_method": {"email": "a@example.org", "credit_card": card}})


def test_a_test_card_is_vaulted_as_bin_last_four_and_behaviour_only(state: SandboxState) -> None:
    status, body = _tokenize(state, APPROVE)
    assert status == 200
    pm = body["transaction"]["payment_method"]
    assert (pm["first_six_digits"], pm["last_four_digits"], pm["number"]) == ("400000", "3184", "XXXXXXXXXXXX3184")
    assert pm["verification_value"] == "XXX"
    entry = state.vault_card(pm["token"])
    assert (entry["bin"], entry["last4"], entry["brand"], entry["behaviour"]) == ("400000", "3184", "visa", "approve")
    state.close()
    for f in Path(state.data_dir).iterdir():  # the database and its WAL: no card number, no CVV in any byte
        assert APPROVE.encode() not in f.read_bytes(), f.name


def test_a_card_outside_the_whitelist_is_refused(state: SandboxState) -> None:
    status, body = _tokenize(state, "5555555555554444")
    assert status == 400
    assert "Only whitelisted test cards" in str(body["errors"])
    assert state.vault_card("anything") is None


def test_an_order_with_a_vaulted_token_gets_the_cards_behaviour(state: SandboxState) -> None:
    _, body = _tokenize(state, CHALLENGE)
    token = body["transaction"]["payment_method"]["token"]
    from flex_provider.sandbox.schemas import PaymentMethod

    card = state._card(state.merchant.mid, PaymentMethod.model_validate({"cardNumber": token, "token": True}))
    assert card == {"token": token, "bin": "411111", "last4": "1111", "behaviour": "challenge"}
    unknown = state._card(state.merchant.mid, PaymentMethod.model_validate({"cardNumber": "tok-x", "token": True}))
    assert unknown["behaviour"] == "seeded"


@pytest.mark.parametrize(("digits", "brand"), [("4000", "visa"), ("5100", "master"), ("2221", "master"),
                                               ("3782", "american_express"), ("6011", "discover"), ("9", "unknown")])
def test_card_brand(digits: str, brand: str) -> None:
    assert card_brand(digits) == brand
