"""``flex_provider.sandbox.idempotent``: one answer per (merchant, operation, key); another body is a 409.

On a real sandbox state (SQLite file) in strict mode, where only the key dedupes.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from flex_provider.sandbox.idempotent import without_sequence_number
from flex_provider.sandbox.state import SandboxState


@pytest.fixture
def state(tmp_path: Path):
    s = SandboxState(tmp_path, seed=1, clock_speed=0, strict_idempotency=True)
    yield s
    s.close()


def _row(state: SandboxState, key: str, *, amount: int = 500, seq: str = "1") -> dict:
    return {"isDeclined": True, "isMIT": True, "orderId": "sub-1", "idempotencyKey": key, "sequenceNumber": seq,
            "expiryDateUtc": (state.clock.now() + timedelta(days=14)).isoformat(),
            "transaction": {"id": "t-1", "amount": amount, "currency": "USD"},
            "paymentMethod": {"cardNumber": "tok-unknown", "token": True}}  # fmt: skip


def test_same_key_same_body_replays_the_answer_even_at_another_position(state: SandboxState) -> None:
    key = str(uuid.uuid4())
    first = state.evaluate(state.merchant.mid, _row(state, key), source="sftp")
    assert first[0] == 200
    assert state.evaluate(state.merchant.mid, _row(state, key, seq="42"), source="sftp") == first
    assert len(state.raw_orders()) == 1


def test_same_key_other_body_is_a_409_and_creates_nothing(state: SandboxState) -> None:
    key = str(uuid.uuid4())
    state.evaluate(state.merchant.mid, _row(state, key), source="sftp")
    status, body = state.evaluate(state.merchant.mid, _row(state, key, amount=501), source="sftp")
    assert status == 409
    assert "different request body" in body["detail"]
    assert len(state.raw_orders()) == 1


def test_a_new_key_is_a_new_order_in_strict_mode(state: SandboxState) -> None:
    a = state.evaluate(state.merchant.mid, _row(state, str(uuid.uuid4())), source="sftp")
    b = state.evaluate(state.merchant.mid, _row(state, str(uuid.uuid4())), source="sftp")
    assert a[1]["orderSessionKey"] != b[1]["orderSessionKey"]
    assert len(state.raw_orders()) == 2


def test_sequence_number_is_dropped_in_any_case_and_nothing_else() -> None:
    assert without_sequence_number({"SequenceNumber": 1, "sequenceNumber": 2, "orderId": "o"}) == {"orderId": "o"}
    assert without_sequence_number(["not", "a", "dict"]) == ["not", "a", "dict"]
