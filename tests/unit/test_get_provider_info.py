"""``flex_provider.get_provider_info``: the ``flex`` connection form shows the port and masks the keys."""

from __future__ import annotations

from flex_provider.get_provider_info import get_provider_info


def _flex_type() -> dict:
    return next(t for t in get_provider_info()["connection-types"] if t["connection-type"] == "flex")


def test_port_is_shown_and_the_webhook_key_is_a_password_field_under_a_masked_name():
    flex = _flex_type()
    assert "port" not in flex["ui-field-behaviour"]["hidden-fields"]  # hidden, the UI's Test sends port 0
    fields = flex["conn-fields"]
    assert "webhook_subscriber_key" not in fields
    assert fields["webhook_secret"]["schema"]["format"] == "password"
    assert fields["tokenization_key"]["schema"]["format"] == "password"
