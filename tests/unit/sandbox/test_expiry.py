"""``flex_provider.sandbox.expiry``: MIT orders complete or expire when the sandbox clock reaches their time."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from flex_provider.sandbox.state import SandboxState

DAY = 86400.0


def _evaluate(state: SandboxState, order_id: str, days: int) -> str:
    row = {"isDeclined": True, "isMIT": True, "orderId": order_id, "idempotencyKey": str(uuid.uuid4()),
           "expiryDateUtc": (state.clock.now() + timedelta(days=days)).isoformat(),
           "transaction": {"id": f"t-{order_id}", "amount": 500, "currency": "USD"},
           "paymentMethod": {"cardNumber": "tok-unknown", "token": True}}  # fmt: skip
    status, body = state.evaluate(state.merchant.mid, row, source="sftp")
    assert status == 200, body
    return body["orderSessionKey"]


@pytest.mark.parametrize(("approve_rate", "event", "status"), [(1.0, "order.completed", "APPROVED"),
                                                               (0.0, "order.expired", "EXPIRED")])
def test_nothing_settles_before_its_time_and_everything_once_after(
    tmp_path: Path, approve_rate: float, event: str, status: str
) -> None:
    state = SandboxState(tmp_path, seed=2, clock_speed=0, approve_rate=approve_rate)
    seen = []
    state.add_listener(seen.append)
    placed = state.clock.timestamp()
    order = _evaluate(state, "sub-9", days=14)
    assert state.settle_due() == []
    state.clock.advance(14 * DAY + 1)  # past the window: an approval falls inside it, an expiry at its end
    events = state.settle_due()
    assert [(e.order_id, e.event, e.status) for e in events] == [(order, event, status)]
    assert seen == events
    assert state.settle_due() == []  # settled once
    at = events[0].timestamp.timestamp()  # the event carries the sandbox time it happened, not the settle time
    if status == "EXPIRED":
        assert at == pytest.approx(placed + 14 * DAY, abs=0.01)
    else:  # an approval lands between 5 % and 90 % of the window
        assert placed + 0.05 * 14 * DAY - 0.01 <= at <= placed + 0.9 * 14 * DAY + 0.01
    state.close()
