"""``flex_provider.sandbox.order_store``: listeners hear an order event only once its change is committed.

On a real ``SandboxState`` (the store's SQLite file in a tmp dir).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from flex_provider.sandbox.order_store import COMPLETED, PROCESSING, OrderEvent, envelope, iso, to_timestamp
from flex_provider.sandbox.state import SandboxState
from tests.unit.sandbox.support import DAY, mit_row


@pytest.fixture
def state(tmp_path: Path):
    s = SandboxState(tmp_path, seed=12, clock_speed=0, approve_rate=1.0)
    yield s
    s.close()


def test_listeners_get_events_after_the_commit_and_none_of_a_rolled_back_change(state: SandboxState) -> None:
    heard: list[tuple[str, int]] = []

    def listener(event: OrderEvent) -> None:
        # What the listener reads is already committed: a second connection sees the event row.
        heard.append((event.event, len(state.raw_events())))

    state.add_listener(listener)
    order = state.evaluate(state.merchant.mid, mit_row(state, "sub-1"))[1]["orderSessionKey"]
    row = state.raw_orders()[0]

    def crash_before_commit() -> None:
        with state._txn() as conn:
            state._emit(conn, {**row, "external_order_id": "sub-1"}, "order.cancelled", "CANCELLED", 0.0)
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash_before_commit()
    assert heard == []
    assert state.raw_events() == []
    state.clock.advance(15 * DAY)
    state.settle_due()
    assert heard == [("order.completed", 1)]
    assert state.raw_events()[0]["order_id"] == order


def test_a_failing_listener_does_not_stop_the_others(state: SandboxState) -> None:
    heard: list[str] = []
    state.add_listener(lambda e: 1 / 0)
    state.add_listener(lambda e: heard.append(e.external_order_id))
    state.evaluate(state.merchant.mid, mit_row(state, "sub-2"))
    state.clock.advance(15 * DAY)
    assert [e.event for e in state.settle_due()] == ["order.completed"]
    assert heard == ["sub-2"]


def test_the_api_view_of_an_order(state: SandboxState) -> None:
    order = state.evaluate(state.merchant.mid, mit_row(state, "sub-3", amount=2500, currency="EUR"))[1]["orderSessionKey"]
    view = state.get_order(state.merchant.mid, order)[1]
    assert (view["status"], view["statusName"], view["completedDate"]) == (PROCESSING, "Processing", None)
    assert (view["amount"], view["currencyCode"], view["currencySymbol"], view["isMIT"]) == (2500, "EUR", "€", True)
    state.clock.advance(15 * DAY)
    state.settle_due()
    done = state.get_order(state.merchant.mid, order)[1]
    assert (done["status"], done["statusName"]) == (COMPLETED, "Completed")
    assert view["orderPlacedDate"] < done["completedDate"] <= iso(state.clock.timestamp())  # when it fell due
    assert done["confirmationId"]
    cancelled = state.evaluate(state.merchant.mid, mit_row(state, "sub-4"))[1]["orderSessionKey"]
    state.cancel(state.merchant.mid, cancelled, {})
    gone = state.get_order(state.merchant.mid, cancelled)[1]
    assert (gone["statusName"], gone["completedDate"]) == ("Cancelled", None)  # final, but not completed


def test_envelope_and_time_helpers() -> None:
    assert envelope(orderSessionKey="k") == {"orderSessionKey": "k", "success": True, "result": "Success",
                                             "status": "SUCCESS", "statusCode": None, "errors": [],
                                             "customProperties": {}}
    assert envelope("FAILED", success=False)["result"] == "Failed"
    assert iso(0) == "1970-01-01T00:00:00Z"
    assert iso(None) is None
    naive = datetime(2026, 1, 1, 12)
    assert to_timestamp(naive) == to_timestamp(naive.replace(tzinfo=timezone.utc))
    assert to_timestamp(naive.replace(tzinfo=timezone(timedelta(hours=1)))) == to_timestamp(naive) - 3600
