"""``flex_provider.sandbox.webhook_payload``: Flex's PascalCase webhook body, from an order event or by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flex_provider.sandbox.order_store import OrderEvent
from flex_provider.sandbox.webhook_payload import iso_timestamp, payload_from_order_event, with_defaults


def test_an_order_event_becomes_flex_s_payload() -> None:
    at = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=-5)))
    event = OrderEvent(event="order.completed", order_id="flex-1", external_order_id="sub-1", mid="m",
                       status="APPROVED", confirmation_id="AB12", amount=1999, currency="USD", timestamp=at)
    assert payload_from_order_event(event, is_test_mode=False) == {
        "Event": "order.completed", "TimeStamp": "2026-05-06T12:08:09.123456Z", "EventData": None,
        "ExternalOrderId": "sub-1", "OrderId": "flex-1", "ConfirmationId": "AB12", "IsTestMode": False,
        "IsResent": False, "Amount": 1999, "Currency": "USD"}


def test_a_naive_time_is_utc() -> None:
    assert iso_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000000Z"


def test_a_hand_written_event_keeps_its_keys_and_gets_the_rest() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    payload = with_defaults({"Event": "order.expired", "OrderId": "o", "IsResent": True}, is_test_mode=True, now=now)
    assert payload == {"Event": "order.expired", "OrderId": "o", "IsResent": True,
                       "TimeStamp": "2026-01-01T00:00:00.000000Z", "EventData": None, "ExternalOrderId": None,
                       "ConfirmationId": None, "IsTestMode": True}
