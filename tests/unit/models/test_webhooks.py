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
