"""``flex_provider.order_actions``: a request id makes the refund's key; the same id refunds once.

Real parts: the sandbox's Flex API in-process (no server) and a SQLite ledger.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from flex_provider.hooks.api import TOKEN_CACHE, FlexApiHook
from flex_provider.ledger import FlexLedger
from flex_provider.ledger.events import OrderEvent
from flex_provider.order_actions import OrderActionError, OrderActions
from tests.api.test_hook import APPROVING_CARD, evaluate_body
from tests.unit.hooks.api.sandbox_app import new_state, sandbox_connection, sync_client
from tests.unit.test_idempotency import PINNED_NAMESPACE

PAST_WINDOW = 3600 * 24 * 30


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state, app = new_state(tmp_path)
    sandbox_connection(state, monkeypatch)
    hook = FlexApiHook("flex_default")
    hook._client = sync_client(app)
    TOKEN_CACHE.invalidate(hook._token_key, None)
    ledger = FlexLedger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield state, hook, ledger
    ledger.engine.dispose()
    hook.close()
    state.close()


def _approved_order(state, hook: FlexApiHook, ledger: FlexLedger, amount: int = 1999) -> tuple[str, str]:
    """An order the sandbox approved, and the result fact the ledger learnt about it."""
    card = {"first_name": "Ann", "last_name": "Lee", "number": APPROVING_CARD, "month": "09", "year": "2030"}
    body = evaluate_body(hook.settings.mid, token=hook.tokenize({"payment_method": {"credit_card": card}}).token)
    body["expiryDateUtc"] = (state.clock.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    body["transaction"].update(amount=amount, currency="USD")
    key = hook.evaluate(body).order_session_key
    state.clock.advance(PAST_WINDOW)
    ledger.append_events([OrderEvent(mid=hook.settings.mid, order_id=body["orderId"], kind="result", status="APPROVED",
                                     event_key=f"result_{body['orderId']}.json:1", order_session_key=key,
                                     amount_minor=amount, currency="USD", flex_time=state.clock.now())])  # fmt: skip
    return body["orderId"], key


def test_the_refund_key_is_uuid5_of_mid_flex_order_operation_and_request_id(world) -> None:
    state, hook, ledger = world
    order_id, key = _approved_order(state, hook, ledger)
    OrderActions(hook, ledger).refund(order_id, request_id="pin-1", amount="1.00")
    (request,) = [e for e in ledger.order_events(hook.settings.mid, order_id) if e["kind"] == "refund_requested"]
    assert request["detail"] == str(uuid.uuid5(PINNED_NAMESPACE, f"{hook.settings.mid}:{key}:refund:pin-1"))


def test_the_same_request_id_refunds_once_and_another_refunds_again(world) -> None:
    state, hook, ledger = world
    order_id, key = _approved_order(state, hook, ledger)
    actions = OrderActions(hook, ledger)
    first = actions.refund(order_id, request_id="r-1", amount="2.00")
    again = actions.refund(order_id, request_id="r-1", amount="2.00")
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert hook.get_order(key).refunded_amount == 200
    actions.refund(order_id, request_id="r-2", amount="2.00")
    assert hook.get_order(key).refunded_amount == 400
    assert ledger.order_state(hook.settings.mid, order_id)["refunded_minor"] == 400


def test_a_refund_above_what_is_left_is_refused_before_flex_is_asked(world) -> None:
    state, hook, ledger = world
    order_id, key = _approved_order(state, hook, ledger, amount=500)
    with pytest.raises(OrderActionError, match=r"above what is left to refund \(500 minor units\)"):
        OrderActions(hook, ledger).refund(order_id, request_id="r-big", amount="5.01")
    assert hook.get_order(key).refunded_amount in (0, None)
