"""The ledger's reads (flex_provider.ledger.views): pending orders by expiry, rows and states overlaid."""

from __future__ import annotations

from datetime import timedelta

from flex_provider.ledger import FlexLedger
from tests.unit.ledger.facts import DAY, NOW, ack, ship


def test_pending_orders_are_the_submitted_ones_whose_window_closed(ledger: FlexLedger, mid: str) -> None:
    ship(ledger, mid, f"evaluate_{mid}_20261123_0001.json", 3, day=DAY - timedelta(days=1))
    ship(ledger, mid, f"evaluate_{mid}_20261124_0001.json", 3, start=3)
    ledger.apply_ack(
        ack(
            mid,
            f"evaluate_{mid}_20261124_0001.json",
            {"o3": "SUBMITTED", "o4": "SUBMITTED", "o5": "SUBMITTED"},
        )
    )
    pending = ledger.pending_orders(mid, as_of=NOW + timedelta(days=1, hours=1))
    assert [p["order_id"] for p in pending] == ["o3", "o4"]  # expiries NOW, NOW+1d; o5 expires NOW+2d
    assert pending[0]["expiry_date_utc"] == NOW


def test_session_keys_map_back_to_the_merchants_orders(ledger: FlexLedger, mid: str) -> None:
    name = f"evaluate_{mid}_20261124_0001.json"
    ship(ledger, mid, name, 3)
    ledger.apply_ack(ack(mid, name, {"o0": "SUBMITTED", "o1": "SUBMITTED", "o2": "REJECTED"}))
    assert ledger.orders_by_session_key(mid, ["osk-o0", "osk-o1", "osk-o2", "osk-o0"]) == {
        "osk-o0": "o0",
        "osk-o1": "o1",
    }
    assert ledger.orders_by_session_key("another-merchant", ["osk-o0"]) == {}
    state = ledger.order_state(mid, "o1")
    assert (state["status"], state["order_session_key"], state["expiry_at"]) == (
        "SUBMITTED",
        "osk-o1",
        NOW + timedelta(days=1),
    )
    assert ledger.order_state(mid, "nope") is None
