"""
A result file new to the ledger is COPied straight into the events on PostgreSQL; a file seen before,
or one whose key turns out stored, goes through staging. Either way the same states and counts.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from flex_provider.batch.result_columns import iter_result_blocks
from flex_provider.ledger import FlexLedger, OrderEvent, order_events, order_state
from flex_provider.ledger.schema import utc

DAY = date(2026, 11, 24)
T0 = datetime(2026, 11, 24, 6, tzinfo=timezone.utc)
SHIPPED = 6  # orders o0..o5 are shipped and acknowledged; the file also names o9, never shipped


def _ship(ledger: FlexLedger, mid: str) -> None:
    facts = []
    for n in range(SHIPPED):
        oid = f"o{n}"
        facts.append(OrderEvent(mid=mid, order_id=oid, kind="shipped", event_key=f"evaluate_f.json:{n + 1}",
                                status="SHIPPED", flex_time=T0, business_date=DAY, file_name="evaluate_f.json",
                                expiry_at=T0 + timedelta(days=21)))  # fmt: skip
        facts.append(OrderEvent(mid=mid, order_id=oid, kind="ack", event_key=f"evaluate_f.json:{n + 1}:{oid}",
                                status="SUBMITTED", order_session_key=f"osk-{n}",
                                flex_time=T0 + timedelta(hours=1)))  # fmt: skip
    ledger.append_events(facts)


def _result_file(tmp: Path, mid: str, number: int = 1) -> Path:
    """Rows for o0..o5 (even: APPROVED, odd: EXPIRED) and o9 (unknown), in the documented line layout."""
    rows = [
        {"orderId": f"o{n}", "orderSessionKey": f"osk-{n}", "status": "APPROVED" if n % 2 == 0 else "EXPIRED",
         "confirmationId": f"C{n}" if n % 2 == 0 else None, "amount": 1000 + n, "currency": "JPY",
         "timestampUtc": "2026-11-30T08:12:00Z"}
        for n in (*range(SHIPPED), 9)
    ]  # fmt: skip
    head = {"fileType": "result", "mid": mid, "generatedAtUtc": "2026-12-01T10:00:00Z", "fileNumber": number,
            "rowCount": len(rows)}  # fmt: skip
    path = tmp / f"result_{mid}_20261201100000_{number:04d}.json"
    body = ",\n".join(json.dumps(r, separators=(",", ":")) for r in rows)
    path.write_text(json.dumps(head, separators=(",", ":"))[:-1] + ',"rows":[\n' + body + "\n]}\n")
    return path


def _apply(ledger: FlexLedger, path: Path, mid: str, *, reread: bool = True) -> dict[str, int]:
    _, blocks = iter_result_blocks(path)
    again = (lambda: iter_result_blocks(path)[1]) if reread else None
    return ledger.apply_result_blocks(blocks, mid=mid, file_name=path.name, reread=again)


def _states(ledger: FlexLedger, mid: str) -> dict[str, dict[str, Any]]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(order_state).where(order_state.c.mid == mid)).mappings()
        return {
            r["order_id"]: {k: utc(v) if isinstance(v, datetime) else v for k, v in r.items() if k not in ("seq", "mid")}
            for r in rows
        }  # times aware UTC on both backends (SQLite gives them back naive)


def _events(ledger: FlexLedger, mid: str) -> int:
    with ledger.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(order_events.c.mid == mid, order_events.c.kind == "result")
            ).scalar_one()
        )


@pytest.fixture(params=["psycopg2", "psycopg"])
def pg_ledger(request: pytest.FixtureRequest, pg_url: str) -> Any:
    """The ledger on the session's database through either driver an Airflow connection may bring."""
    led = FlexLedger.from_url(pg_url.replace("+psycopg2:", f"+{request.param}:"))
    assert led.engine.driver == request.param
    yield led
    led.engine.dispose()


def test_a_new_file_copied_straight_gives_what_the_staged_path_gives(
    pg_ledger: FlexLedger, tmp_path: Path
) -> None:
    mid = str(uuid.uuid4())
    _ship(pg_ledger, mid)
    path = _result_file(tmp_path, mid)
    counts = _apply(pg_ledger, path, mid)
    # expectations from the file: six shipped orders change, one row names an order never shipped
    assert counts == {"received": 7, "applied": SHIPPED, "ignored": 0, "unknown": 1}
    states = _states(pg_ledger, mid)
    assert {o: s["status"] for o, s in states.items()} == {
        **{f"o{n}": "APPROVED" if n % 2 == 0 else "EXPIRED" for n in range(SHIPPED)}, "o9": "EXPIRED",
    }  # fmt: skip
    assert states["o0"]["approved_minor"] == 1000
    assert states["o0"]["currency"] == "JPY"
    assert states["o1"]["confirmation_id"] is None
    assert states["o1"]["sent_at"] == T0
    assert states["o9"]["sent_at"] is None

    sqlite = FlexLedger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")  # no COPY: always staged
    try:
        _ship(sqlite, mid)
        assert _apply(sqlite, path, mid) == counts
        assert _states(sqlite, mid) == states
    finally:
        sqlite.engine.dispose()


def test_a_file_applied_again_stores_and_changes_nothing(pg_ledger: FlexLedger, tmp_path: Path) -> None:
    mid = str(uuid.uuid4())
    _ship(pg_ledger, mid)
    path = _result_file(tmp_path, mid)
    _apply(pg_ledger, path, mid)
    before = _states(pg_ledger, mid)
    again = _apply(pg_ledger, path, mid)
    assert again == {"received": 7, "applied": 0, "ignored": SHIPPED, "unknown": 1}
    assert _events(pg_ledger, mid) == 7
    assert _states(pg_ledger, mid) == before


def test_a_stored_key_met_in_the_copy_falls_back_to_staging(pg_ledger: FlexLedger, tmp_path: Path) -> None:
    """Row 3's key is stored already (not row 1's, so the check before the COPY passes)."""
    mid = str(uuid.uuid4())
    _ship(pg_ledger, mid)
    path = _result_file(tmp_path, mid)
    pg_ledger.append_events([OrderEvent(mid=mid, order_id="o2", kind="result", event_key=f"{path.name}:3",
                                        status="APPROVED", confirmation_id="C2", amount_minor=1002,
                                        currency="JPY", flex_time=datetime(2026, 11, 30, 8, 12, tzinfo=timezone.utc))])  # fmt: skip
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        _apply(pg_ledger, path, mid, reread=False)  # rolled back whole: nothing of the file stored
    assert _events(pg_ledger, mid) == 1
    counts = _apply(pg_ledger, path, mid)
    assert counts == {"received": 7, "applied": SHIPPED - 1, "ignored": 1, "unknown": 1}
    assert _events(pg_ledger, mid) == 7
    assert {o: s["status"] for o, s in _states(pg_ledger, mid).items() if o != "o9"} == {
        f"o{n}": "APPROVED" if n % 2 == 0 else "EXPIRED" for n in range(SHIPPED)
    }


def test_a_later_file_naming_the_unknown_order_again_counts_it_unknown_again(
    pg_ledger: FlexLedger, tmp_path: Path
) -> None:
    """o9 has a state after the first file (never shipped); the same outcomes again change nothing."""
    mid = str(uuid.uuid4())
    _ship(pg_ledger, mid)
    _apply(pg_ledger, _result_file(tmp_path, mid), mid)
    again = _apply(pg_ledger, _result_file(tmp_path, mid, number=2), mid)
    assert again == {"received": 7, "applied": 0, "ignored": SHIPPED, "unknown": 1}
    assert _events(pg_ledger, mid) == 14  # the second file's rows are facts of their own
