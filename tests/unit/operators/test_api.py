"""``flex_provider.operators.api`` against the sandbox's Flex API in-process (no server), ledger on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from flex_provider.hooks.api import TOKEN_CACHE, FlexApiHook
from flex_provider.idempotency import idempotency_key
from flex_provider.ledger import FlexLedger
from flex_provider.operators.api import FlexEvaluateOperator, FlexExternalCancelOperator, FlexRefundOperator
from tests.api.test_hook import evaluate_body
from tests.unit.hooks.api.sandbox_app import new_state, sandbox_connection, sync_client


@pytest.fixture
def mid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    state, app = new_state(tmp_path)
    sandbox_connection(state, monkeypatch)
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_LEDGER_DB", f'{{"conn_type": "sqlite", "host": "{tmp_path / "l.db"}"}}')
    original = FlexApiHook.get_conn

    def in_process(self: FlexApiHook):  # the operators' own hooks, bound to the app instead of a socket
        if self._client is None:
            self._client = sync_client(app)
        return original(self)

    monkeypatch.setattr(FlexApiHook, "get_conn", in_process)
    TOKEN_CACHE.invalidate(FlexApiHook("flex_default")._token_key, None)
    yield state.merchant.mid
    state.close()


def test_evaluate_derives_its_key_and_records_the_order_once(mid: str) -> None:
    body = evaluate_body(mid)
    body.pop("idempotencyKey")
    op = FlexEvaluateOperator(task_id="evaluate", request=body, ledger_conn_id="flex_ledger_db")
    first = op.execute({})  # type: ignore[arg-type]
    again = op.execute({})  # type: ignore[arg-type]
    assert first["order_session_key"] == again["order_session_key"]  # same derived key: the same order
    ledger = FlexLedger("flex_ledger_db")
    events = ledger.order_events(mid, body["orderId"])
    ledger.engine.dispose()
    assert [(e["kind"], e["event_key"]) for e in events] == [("evaluated", idempotency_key(mid, body["orderId"], "evaluate"))]


def test_an_answer_a_retry_cannot_fix_fails_the_task_for_good(mid: str) -> None:
    with pytest.raises(AirflowFailException):
        FlexExternalCancelOperator(task_id="cancel", external_order_id="never-evaluated").execute({})  # type: ignore[arg-type]


def test_a_refund_is_templated_by_request_id_and_amount() -> None:
    assert {"order_id", "request_id", "amount", "reason"} <= set(FlexRefundOperator.template_fields)
