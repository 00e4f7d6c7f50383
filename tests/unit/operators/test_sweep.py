"""``flex_provider.operators.sweep``: which Flex order states become a ``sweep`` fact, and with what."""

from __future__ import annotations

from datetime import datetime, timezone

from flex_provider.models.api import Order
from flex_provider.operators.sweep import sweep_event

PLACED = datetime(2026, 11, 24, 6, tzinfo=timezone.utc)
DONE = datetime(2026, 11, 25, 9, tzinfo=timezone.utc)
UPDATED = datetime(2026, 11, 26, 10, tzinfo=timezone.utc)


def _order(status: int, **fields: object) -> Order:
    return Order(id="osk-1", status=status, order_placed_date=PLACED, completed_date=DONE, last_updated_date=UPDATED,
                 amount=1999, currency_code="USD", confirmation_id="c-1", **fields)  # fmt: skip


def test_an_approved_order_is_a_fact_at_its_completion_time() -> None:
    event = sweep_event("m", "sub-1", _order(7))
    assert event is not None
    assert (event.kind, event.status, event.order_id, event.order_session_key) == ("sweep", "APPROVED", "sub-1", "osk-1")
    assert (event.amount_minor, event.currency, event.confirmation_id) == (1999, "USD", "c-1")
    assert event.flex_time == DONE
    assert event.event_key == "osk-1:APPROVED:0"


def test_an_expired_order_is_a_fact_at_its_last_update_and_a_refund_changes_the_key() -> None:
    expired = sweep_event("m", "sub-1", _order(8))
    assert expired is not None
    assert (expired.status, expired.flex_time) == ("EXPIRED", UPDATED)
    refunded = sweep_event("m", "sub-1", _order(6, refunded_amount=500))
    assert refunded is not None
    assert (refunded.status, refunded.event_key) == ("REFUNDED", "osk-1:REFUNDED:500")


def test_an_order_flex_still_works_on_is_no_fact() -> None:
    assert sweep_event("m", "sub-1", _order(0)) is None
    assert sweep_event("m", "sub-1", _order(4)) is None
