"""``flex_provider.models.webhooks``: the event model reads Flex's PascalCase, keeps extras, dedupes."""

from __future__ import annotations

import json

import pytest

from flex_provider.models.webhooks import FlexWebhookEvent


def test_model_pascal_case_extra_and_dedupe():
    wire = {
        "Event": "order.completed", "TimeStamp": "2023-03-20T17:16:40.898703Z", "EventData": None,
        "ExternalOrderId": "ext-1", "OrderId": "ord-1", "ConfirmationId": "22ACD1D9", "IsTestMode": True,
        "IsResent": False, "Amount": 1299, "Currency": "USD", "SomethingNew": {"x": 1},
    }  # fmt: skip
    ev = FlexWebhookEvent.model_validate_json(json.dumps(wire))
    assert (ev.event, ev.order_id, ev.external_order_id, ev.amount, ev.status) == (
        "order.completed", "ord-1", "ext-1", 1299, "APPROVED")  # fmt: skip
    assert ev.model_extra == {"SomethingNew": {"x": 1}}
    assert ev.to_wire()["TimeStamp"] == wire["TimeStamp"]
    same = FlexWebhookEvent.model_validate(
        {**wire, "TimeStamp": "2023-03-20T18:16:40.898703+01:00", "IsResent": True}
    )
    assert same.dedupe_key == ev.dedupe_key
    assert FlexWebhookEvent.model_validate({**wire, "Event": "order.refunded"}).dedupe_key != ev.dedupe_key
    for bad in (
        {"TimeStamp": wire["TimeStamp"]},
        {"Event": "order.completed"},
        {**wire, "TimeStamp": "soon"},
    ):
        with pytest.raises(ValueError):  # noqa: PT011
            FlexWebhookEvent.model_validate(bad)


@pytest.mark.parametrize(
    ("extra", "amount", "currency"),
    [({"Amount": 19.99, "Currency": "USD"}, None, "USD"), ({"Amount": "1999"}, 1999, None),
     ({"Amount": {"value": 1999}, "Currency": "US Dollar"}, None, None), ({"Amount": True}, None, None),
     ({"Amount": "\u00b2"}, None, None)],
)  # fmt: skip
def test_our_amount_and_currency_in_another_form_never_refuse_a_delivery(
    extra: dict[str, object], amount: int | None, currency: str | None
) -> None:
    wire = {"Event": "order.completed", "TimeStamp": "2026-11-25T09:00:00Z", "OrderId": "ord-1", **extra}
    ev = FlexWebhookEvent.model_validate_json(json.dumps(wire))
    assert (ev.status, ev.amount, ev.currency) == ("APPROVED", amount, currency)


def test_numeric_ids_are_read_as_their_text() -> None:
    wire = {"Event": "order.completed", "TimeStamp": "2026-11-25T09:00:00Z", "OrderId": "ord-1",
            "ExternalOrderId": 12345, "ConfirmationId": 22}  # fmt: skip
    ev = FlexWebhookEvent.model_validate_json(json.dumps(wire))
    assert (ev.external_order_id, ev.confirmation_id) == ("12345", "22")
