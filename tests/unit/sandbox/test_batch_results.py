"""``flex_provider.sandbox.batch_results``: completed and expired orders become result files, none lost or doubled.

A real ``BatchProcessor`` (whose base class this is) on a tmp SFTP root around a real ``SandboxState``;
``OrderEvent``s are handed to its listener directly.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from flex_provider.sandbox import batch_results
from flex_provider.sandbox.batches import BatchProcessor
from flex_provider.sandbox.order_store import OrderEvent
from flex_provider.sandbox.state import SandboxState

AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


@pytest.fixture
def env(tmp_path: Path):
    state = SandboxState(tmp_path / "state", seed=8, clock_speed=0)
    root = tmp_path / "sftp"
    (root / "merchant" / "inbound").mkdir(parents=True)
    (root / "merchant" / "outbound").mkdir()
    processor = BatchProcessor(state, root, accounts={"merchant": state.merchant.mid})
    yield state, processor, root / "merchant" / "outbound"
    processor.close()
    state.close()


def event(state: SandboxState, n: int, kind: str = "order.completed", status: str = "APPROVED") -> OrderEvent:
    return OrderEvent(event=kind, order_id=f"flex-{n}", external_order_id=f"sub-{n}", mid=state.merchant.mid,
                      status=status, confirmation_id=f"C{n}", amount=100 + n, currency="USD", timestamp=AT)


def read(path: Path) -> tuple[dict, list[dict]]:
    doc = json.loads(path.read_text())
    return doc, doc.pop("rows")


def test_completed_and_expired_orders_are_result_rows_other_events_are_not(env) -> None:
    state, processor, outbound = env
    processor.on_event(event(state, 1))
    processor.on_event(event(state, 2, "order.expired", "EXPIRED"))
    processor.on_event(event(state, 3, "order.cancelled", "CANCELLED"))
    processor.on_event(event(state, 1))  # the same event again: one row
    [name] = processor.flush_results()
    head, rows = read(outbound / name)
    assert (head["fileType"], head["mid"], head["rowCount"]) == ("result", state.merchant.mid, 2)
    assert rows == [
        {"orderId": "sub-1", "orderSessionKey": "flex-1", "status": "APPROVED", "confirmationId": "C1",
         "amount": 101, "currency": "USD", "timestampUtc": "2026-03-04T05:06:07Z"},
        {"orderId": "sub-2", "orderSessionKey": "flex-2", "status": "EXPIRED", "confirmationId": None,
         "amount": 102, "currency": "USD", "timestampUtc": "2026-03-04T05:06:07Z"},
    ]
    assert processor.pending_results() == 0
    assert processor.flush_results() == []


def test_result_files_are_named_by_the_sandbox_clock_and_numbered_per_day(env) -> None:
    state, processor, _outbound = env
    now = state.clock.now()
    processor.on_event(event(state, 1))
    processor.on_event(event(state, 2))
    names = []
    for _ in range(2):
        names += processor.flush_results()
        processor.on_event(event(state, 3 + len(names)))
    stamp = now.strftime("%Y%m%d%H%M%S")
    assert names == [f"result_{state.merchant.mid}_{stamp}_0001.json", f"result_{state.merchant.mid}_{stamp}_0002.json"]


def test_a_file_holds_at_most_max_rows(env, monkeypatch: pytest.MonkeyPatch) -> None:
    state, processor, outbound = env
    monkeypatch.setattr(batch_results, "MAX_ROWS", 3)
    for n in range(7):
        processor.on_event(event(state, n))
    names = processor.flush_results()
    counts = [read(outbound / name)[0]["rowCount"] for name in names]
    assert counts == [3, 3, 1]
    assert [r["orderId"] for name in names for r in read(outbound / name)[1]] == [f"sub-{n}" for n in range(7)]


def test_queued_rows_survive_a_restart(env, tmp_path: Path) -> None:
    state, processor, outbound = env
    processor.on_event(event(state, 1))
    processor.close()
    again = BatchProcessor(state, tmp_path / "sftp", accounts={"merchant": state.merchant.mid})
    try:
        assert again.pending_results() == 1
        [name] = again.flush_results()
        assert read(outbound / name)[1][0]["orderId"] == "sub-1"
    finally:
        again.close()
