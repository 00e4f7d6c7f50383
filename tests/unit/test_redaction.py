"""``flex_provider.redaction``: what is logged of a payload has no secrets and only masked card numbers."""

from __future__ import annotations

from flex_provider.redaction import REDACTED, redact


def test_sensitive_keys_are_replaced_whatever_their_case_and_depth() -> None:
    payload = {
        "appKey": "k", "APPSECRET": "s", "mid": "m-1",
        "paymentMethod": {"cardNumber": "tok_1", "Token": True, "holderName": "Ann"},
        "headers": [{"Authorization": "Bearer abc"}, {"accept": "json"}],
        "extra": {"webhook_secret": "w", "webhook_secrets": ["a", "b"], "password": "p"},
    }  # fmt: skip
    assert redact(payload) == {
        "appKey": REDACTED, "APPSECRET": REDACTED, "mid": "m-1",
        "paymentMethod": {"cardNumber": REDACTED, "Token": True, "holderName": "Ann"},
        "headers": [{"Authorization": REDACTED}, {"accept": "json"}],
        "extra": {"webhook_secret": REDACTED, "webhook_secrets": REDACTED, "password": REDACTED},
    }  # fmt: skip


def test_card_numbers_in_free_text_are_masked_and_the_input_is_not_changed() -> None:
    payload = {"note": "customer gave 4111 1111 1111 1111 on the phone", "ids": ("5555555555554444", 7)}
    out = redact(payload)
    assert out == {"note": "customer gave 411111******1111 on the phone", "ids": ["555555******4444", 7]}
    assert payload["note"] == "customer gave 4111 1111 1111 1111 on the phone"  # a copy, not in place
