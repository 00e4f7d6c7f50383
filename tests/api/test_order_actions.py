"""
Refunds and cancels through the ledger (``flex_provider.order_actions`` and its operators), against the
sandbox and a SQLite ledger: what Flex refunded, what the ledger holds and what the caller asked agree.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException

from flex_provider.exceptions import FlexServerError
from flex_provider.hooks.api import FlexApiHook
from flex_provider.ledger import FlexLedger
from flex_provider.ledger.events import OrderEvent
from flex_provider.operators.api import FlexCancelOperator, FlexRefundOperator
from flex_provider.order_actions import OrderActionError, OrderActions
from tests.api.test_hook import PAST_WINDOW, approving_token, evaluate_body, request_count

REFUND_ROUTE = "POST /v1/orders/{id}/refund"


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_LEDGER_DB", f'{{"conn_type": "sqlite", "host": "{path}"}}')
    led = FlexLedger.from_url(f"sqlite:///{path}")
    yield led
    led.engine.dispose()


@pytest.fixture
def api(sandbox, flex_conn_env):
    sandbox.admin("POST", "/faults/reset")
    with FlexApiHook(backoff_initial=0.05, backoff_max=0.2) as hook:
        yield hook


def _order(
    api: FlexApiHook, sandbox, ledger: FlexLedger, *, approve: bool, amount: int = 1999, currency: str = "USD"
):
    """A real order at the sandbox and the fact the ledger learnt about it (a result row or an ack row)."""
    mid = api.settings.mid
    body = evaluate_body(mid, token=approving_token(api) if approve else "tok_pending")
    body["expiryDateUtc"] = (sandbox.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    body["transaction"].update(amount=amount, currency=currency)
    key = api.evaluate(body).order_session_key
    if approve:
        sandbox.admin("POST", "/clock", {"advance_seconds": PAST_WINDOW})
    fact = {"kind": "result", "status": "APPROVED"} if approve else {"kind": "ack", "status": "SUBMITTED"}
    ledger.append_events(
        [
            OrderEvent(
                mid=mid,
                order_id=body["orderId"],
                event_key=f"{fact['kind']}_{body['orderId']}.json:1",
                order_session_key=key,
                amount_minor=amount,
                currency=currency,
                flex_time=sandbox.now(),
                **fact,
            )
        ]
    )
    return body["orderId"], key


def test_two_requests_for_equal_partial_refunds_are_two_refunds(api, sandbox, ledger):
    order_id, key = _order(api, sandbox, ledger, approve=True)
    actions = OrderActions(api, ledger)
    first = actions.refund(order_id, request_id="r-1", amount="1.50")
    second = actions.refund(order_id, request_id="r-2", amount="1.50")
    assert (first["amount_minor"], second["amount_minor"]) == (150, 150)
    assert first["transaction_id"] != second["transaction_id"]
    assert api.get_order(key).refunded_amount == 300
    assert ledger.order_state(api.settings.mid, order_id)["refunded_minor"] == 300


def test_the_refund_key_is_the_pinned_request_key(api, sandbox, ledger):
    """The key sent is uuid5 of (mid, Flex order id, refund, request id) in the pinned namespace."""
    import uuid

    from tests.unit.test_idempotency import PINNED_NAMESPACE

    order_id, key = _order(api, sandbox, ledger, approve=True)
    OrderActions(api, ledger).refund(order_id, request_id="pin-1", amount="1.00")
    (request,) = [e for e in ledger.order_events(api.settings.mid, order_id) if e["kind"] == "refund_requested"]
    assert request["detail"] == str(uuid.uuid5(PINNED_NAMESPACE, f"{api.settings.mid}:{key}:refund:pin-1"))


def test_a_request_sent_again_refunds_once(api, sandbox, ledger):
    order_id, key = _order(api, sandbox, ledger, approve=True)
    actions = OrderActions(api, ledger)
    actions.refund(order_id, request_id="r-same", amount="2.00")
    again = actions.refund(order_id, request_id="r-same", amount="2.00")
    assert again["replayed"] is True
    assert api.get_order(key).refunded_amount == 200
    assert ledger.order_state(api.settings.mid, order_id)["refunded_minor"] == 200


def test_full_refund_keeps_its_amount_on_a_retry(api, sandbox, ledger):
    """'Refund the rest' is fixed when first requested: a retry after success sends the same body."""
    order_id, key = _order(api, sandbox, ledger, approve=True)
    actions = OrderActions(api, ledger)
    sandbox.admin("POST", "/faults", {"drop_response_after_commit_next": 50, "drop_route": REFUND_ROUTE})
    with pytest.raises(FlexServerError):  # every answer lost (503 after the commit), retries spent
        actions.refund(order_id, request_id="full-1")
    sandbox.admin("POST", "/faults/reset")
    assert api.get_order(key).refunded_amount == 1999  # Flex did refund
    done = actions.refund(order_id, request_id="full-1")
    assert done["amount_minor"] == 1999
    assert api.get_order(key).refunded_amount == 1999
    state = ledger.order_state(api.settings.mid, order_id)
    assert (state["status"], state["refunded_minor"]) == ("REFUNDED", 1999)


@pytest.mark.parametrize(
    ("currency", "amount", "refund", "minor"), [("JPY", 1000, "100", 100), ("KWD", 2500, "1.5", 1500)]
)
def test_minor_units_by_currency(api, sandbox, ledger, currency, amount, refund, minor):
    order_id, key = _order(api, sandbox, ledger, approve=True, amount=amount, currency=currency)
    assert OrderActions(api, ledger).refund(order_id, request_id="r", amount=refund)["amount_minor"] == minor
    assert api.get_order(key).refunded_amount == minor


@pytest.mark.parametrize("amount", ["20.00", "0", "1.001", "abc"])
def test_impossible_refunds_are_refused_before_any_call(api, sandbox, ledger, amount):
    order_id, _ = _order(api, sandbox, ledger, approve=True)
    before = request_count(sandbox, REFUND_ROUTE)
    with pytest.raises(OrderActionError):
        OrderActions(api, ledger).refund(order_id, request_id="bad", amount=amount)
    assert request_count(sandbox, REFUND_ROUTE) == before


def test_cancel_through_the_ledger(api, sandbox, ledger):
    order_id, key = _order(api, sandbox, ledger, approve=False)
    FlexCancelOperator(task_id="cancel", order_id=order_id, request_id="c-1").execute({})
    assert api.get_order(key).status_name == "Cancelled"
    assert ledger.order_state(api.settings.mid, order_id)["status"] == "CANCELLED"
    with pytest.raises(AirflowFailException, match="refund"):  # a cancelled order cannot be refunded
        FlexRefundOperator(task_id="r", order_id=order_id, request_id="r-1").execute({})


def test_refund_operator_end_to_end(api, sandbox, ledger):
    order_id, key = _order(api, sandbox, ledger, approve=True)
    out = FlexRefundOperator(task_id="r", order_id=order_id, request_id="op-1", amount="1.50").execute({})
    assert (out["amount_minor"], out["currency"], out["status"]) == (150, "USD", "SUCCESS")
    assert api.get_order(key).refunded_amount == 150


def test_operators_declare_template_fields():
    for field in ("order_id", "request_id", "amount", "reason"):
        assert field in FlexRefundOperator.template_fields
    assert "request_id" in FlexCancelOperator.template_fields
