"""``flex_provider.sandbox.evaluate``: what /evaluate accepts, and outcomes that a seed decides (same seed, same day).

On real sandbox states (SQLite files).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from flex_provider.sandbox.state import SandboxState

APPROVE, DECLINE = "4000002760003184", "4000300011112220"


def _body(state: SandboxState, order_id: str, *, card: str = "tok-x", token: bool = True, amount: int = 500,
          mit: bool = True, **change: object) -> dict:
    body = {"isDeclined": True, "isMIT": mit, "orderId": order_id, "idempotencyKey": str(uuid.uuid4()),
            "expiryDateUtc": (state.clock.now() + timedelta(days=14)).isoformat(),
            "transaction": {"id": f"t-{order_id}", "amount": amount, "currency": "USD"},
            "paymentMethod": {"cardNumber": card, "token": token}}  # fmt: skip
    body.update(change)
    return body


def test_api_rules_are_answered_with_the_field_that_breaks_them(tmp_path: Path) -> None:
    state = SandboxState(tmp_path, seed=1, clock_speed=0)
    mid = state.merchant.mid
    for change, field in [({"isDeclined": False}, "IsDeclined"), ({"expiryDateUtc": None}, "ExpiryDateUtc"),
                          ({"paymentMethod": {"cardNumber": " ", "token": True}}, "PaymentMethod.CardNumber"),
                          ({"amount": 5}, "Transaction.Amount")]:
        amount = change.pop("amount", 500)
        status, body = state.evaluate(mid, _body(state, "o-1", amount=amount, **change))
        assert (status, list(body["errors"])) == (400, [field]), change
    assert state.evaluate(mid, _body(state, "o-1", amount=5), source="sftp")[0] == 200  # batches: any amount
    past = _body(state, "o-2", expiryDateUtc=(state.clock.now() - timedelta(minutes=1)).isoformat())
    assert state.evaluate(mid, past)[0] == 400
    state.close()


def test_test_cards_decide_a_customer_present_order_at_once(tmp_path: Path) -> None:
    state = SandboxState(tmp_path, seed=1, clock_speed=0)
    mid = state.merchant.mid
    ok = state.evaluate(mid, _body(state, "cit-1", card=APPROVE, token=False, mit=False, expiryDateUtc=None))[1]
    no = state.evaluate(mid, _body(state, "cit-2", card=DECLINE, token=False, mit=False, expiryDateUtc=None))[1]
    assert state.get_order(mid, ok["orderSessionKey"])[1]["status"] == 7  # Completed
    assert state.get_order(mid, no["orderSessionKey"])[1]["status"] == 2  # Cancelled (declined)
    state.close()


def test_outcomes_depend_on_the_seed_only(tmp_path: Path) -> None:
    ids = [f"sub-{i}" for i in range(40)]
    a, b, c = (SandboxState(tmp_path / n, seed=s, clock_speed=0) for n, s in (("a", 3), ("b", 3), ("c", 4)))
    out = {n: [s.outcome_for("m", i) for i in ids] for n, s in (("a", a), ("b", b), ("c", c))}
    assert out["a"] == out["b"]
    assert out["a"] != out["c"]
    assert all(0.05 <= f <= 0.9 for _, f in out["a"])
    approved = sum(ok for ok, _ in out["a"])
    assert 4 <= approved <= 24  # approve rate 0.35 of 40: about 14
    for s in (a, b, c):
        s.close()
