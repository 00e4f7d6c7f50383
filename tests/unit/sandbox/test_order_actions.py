"""``flex_provider.sandbox.order_actions``: a full refund, or partials up to 60 %; amounts by the currency's exponent.

On a real sandbox state (SQLite file); orders are approved by the clock (approve rate 1) before refunds.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from flex_provider.sandbox.state import SandboxState

DAY = 86400.0


@pytest.fixture
def state(tmp_path: Path):
    s = SandboxState(tmp_path, seed=7, clock_speed=0, approve_rate=1.0)
    yield s
    s.close()


def _order(state: SandboxState, amount: int, currency: str = "USD", *, settle: bool = True) -> str:
    row = {"isDeclined": True, "isMIT": True, "orderId": f"sub-{uuid.uuid4()}", "idempotencyKey": str(uuid.uuid4()),
           "expiryDateUtc": (state.clock.now() + timedelta(days=14)).isoformat(),
           "transaction": {"id": "t", "amount": amount, "currency": currency},
           "paymentMethod": {"cardNumber": "tok-x", "token": True}}  # fmt: skip
    order = state.evaluate(state.merchant.mid, row, source="sftp")[1]["orderSessionKey"]
    if settle:
        state.clock.advance(15 * DAY)
        state.settle_due()
    return order


def _refund(state: SandboxState, order: str, amount: str) -> dict:
    status, body = state.refund(state.merchant.mid, order, {"amountToRefund": amount})
    assert status == 200, body
    return body


def test_partial_refunds_stop_at_sixty_percent(state: SandboxState) -> None:
    order = _order(state, 1000)  # 10.00 USD
    assert _refund(state, order, "3.00")["refundedAmount"] == 3.0
    refused = _refund(state, order, "3.01")  # 601 cents in all: over the 600 cap
    assert (refused["success"], refused["responseCode"]) == (False, "2003")
    assert "at most 3.00 more" in refused["responseMessage"]
    assert _refund(state, order, "3.00")["orderStatus"] != "Returned"  # exactly 60 %
    assert state.get_order(state.merchant.mid, order)[1]["refundedAmount"] == 600


def test_a_full_refund_returns_the_order_and_nothing_more_can_be_refunded(state: SandboxState) -> None:
    order = _order(state, 1500, "KWD")  # 1.500 KWD: three decimals
    body = _refund(state, order, "1.5")
    assert (body["refundedAmount"], body["orderStatus"]) == (1.5, "Returned")
    again = _refund(state, order, "0.001")
    assert (again["success"], again["responseCode"]) == (False, "2001")


def test_more_decimals_than_the_currency_has_is_a_400(state: SandboxState) -> None:
    order = _order(state, 500, "JPY")
    status, body = state.refund(state.merchant.mid, order, {"amountToRefund": "1.5"})
    assert status == 400
    assert "more decimal places than JPY has (0)" in str(body["errors"])


def test_an_open_order_is_cancelled_a_completed_one_is_not(state: SandboxState) -> None:
    open_order = _order(state, 700, settle=False)
    assert state.cancel(state.merchant.mid, open_order, {}) == (200, {})
    assert state.get_order(state.merchant.mid, open_order)[1]["status"] == 2  # Cancelled
    done = _order(state, 700)
    status, body = state.cancel(state.merchant.mid, done, {})
    assert (status, body["success"], body["responseCode"]) == (200, False, "3001")
    refused = _refund(state, open_order, "1.00")
    assert refused["responseCode"] == "2002"  # a cancelled order cannot be refunded
