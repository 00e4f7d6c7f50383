"""The file registry (flex_provider.ledger.files): one file or many in one transaction, never other content."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from sqlalchemy import select

from flex_provider.batch.ledger import FlexLedger, LedgerConflictError
from flex_provider.ledger.events import shipped_events
from flex_provider.ledger.files import FileRecord, UploadMark
from flex_provider.ledger.schema import EVENT_COLUMNS, order_events, utc
from tests.unit.ledger.facts import ship

DAY = date(2026, 11, 24)
EXPIRY = datetime(2026, 12, 16, tzinfo=timezone.utc)


def _rows(name: str, first: int, n: int) -> list[dict]:
    return [
        {
            "order_id": f"o{i}",
            "sequence_number": i - first + 1,
            "idempotency_key": f"k{i}",
            "expiry_date_utc": None if i % 4 == 0 else EXPIRY + timedelta(seconds=i, microseconds=i % 3),
        }
        for i in range(first, first + n)
    ]


def _frame(name: str, rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "file_name": [name] * len(rows),
            "order_id": [r["order_id"] for r in rows],
            "sequence_number": [r["sequence_number"] for r in rows],
            "idempotency_key": [r["idempotency_key"] for r in rows],
            "expiry_date_utc": [
                r["expiry_date_utc"].isoformat() if r["expiry_date_utc"] else None for r in rows
            ],
        }
    )


def _record(mid: str, name: str, n: int, sha: str = "a") -> FileRecord:
    return FileRecord(name, DAY, "evaluate", mid, n, sha * 64, "b" * 64)


def _events(ledger: FlexLedger, mid: str) -> list[tuple]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(*(order_events.c[c] for c in EVENT_COLUMNS))
            .where(order_events.c.mid == mid)
            .order_by(order_events.c.event_key)
        ).all()
    return [tuple(utc(v) if isinstance(v, datetime) else v for v in r) for r in rows]


def test_batched_record_and_mark_store_what_the_one_file_path_stores(ledger: FlexLedger, mid: str) -> None:
    names = [f"evaluate_{mid}_20261124_{n:04d}.json" for n in (1, 2, 3)]
    given = {
        names[0]: _rows(names[0], 0, 7),
        names[1]: _rows(names[1], 7, 5),
        names[2]: _rows(names[2], 12, 3),
    }
    states = ledger.record_files(
        [_record(mid, n, len(r)) for n, r in given.items()],
        pl.concat([_frame(n, r) for n, r in given.items()]),
    )
    assert states == dict.fromkeys(names, "written")
    assert ledger.record_files([_record(mid, names[0], 7)]) == {names[0]: "written"}  # idempotent
    stored = list(ledger.rows_for_files(names))
    assert [(r["file_name"], r["order_id"], r["sequence_number"], r["idempotency_key"], r["expiry_date_utc"],
             r["business_date"], r["status"]) for r in stored] == [
        (n, r["order_id"], r["sequence_number"], r["idempotency_key"], r["expiry_date_utc"], DAY, "SHIPPED")
        for n, rows in given.items() for r in rows
    ]  # fmt: skip

    ledger.mark_uploaded_many([UploadMark(n, 100 + i, f"{i}" * 64) for i, n in enumerate(names[:2])])
    ledger.mark_uploaded(names[2], 300, None)
    infos = {n: ledger.file_info(n) for n in names}
    assert [(infos[n]["state"], infos[n]["remote_size"]) for n in names] == [
        ("uploaded", 100), ("uploaded", 101), ("uploaded", 300)
    ]  # fmt: skip
    # the events are the ones the row-by-row builder makes from the same rows and upload time
    expected = sorted(
        (
            e.row()
            for n, rows in given.items()
            for e in shipped_events(mid, n, DAY, rows, utc(infos[n]["uploaded_at"]))
        ),
        key=lambda r: r[3],
    )
    assert _events(ledger, mid) == expected
    assert {o: s["status"] for o, s in ledger.rows_for_orders(mid, "evaluate", ["o0", "o14"]).items()} == {
        "o0": "SHIPPED",
        "o14": "SHIPPED",
    }
    ledger.mark_uploaded_many([UploadMark(names[0], 100, "0" * 64)])  # a repeat adds nothing
    assert _events(ledger, mid) == expected


def test_batched_record_refuses_other_content_for_an_uploaded_file(ledger: FlexLedger, mid: str) -> None:
    name, other = f"evaluate_{mid}_20261124_0001.json", f"evaluate_{mid}_20261124_0002.json"
    ledger.record_files([_record(mid, name, 2)], _frame(name, _rows(name, 0, 2)))
    ledger.mark_uploaded(name, 10, None)
    with pytest.raises(LedgerConflictError):
        ledger.record_files(
            [_record(mid, other, 1), _record(mid, name, 2, sha="c")], _frame(other, _rows(other, 5, 1))
        )
    assert ledger.file_info(other) is None  # nothing of the failed batch was recorded
    with pytest.raises(KeyError):
        ledger.mark_uploaded_many([UploadMark(name, 10, None), UploadMark("nope.json", 1, None)])


def test_batched_record_keeps_orders_another_file_holds(ledger: FlexLedger, mid: str) -> None:
    first, second = f"evaluate_{mid}_20261124_0001.json", f"evaluate_{mid}_20261124_0002.json"
    ledger.record_files([_record(mid, first, 2)], _frame(first, _rows(first, 0, 2)))
    ledger.record_files([_record(mid, second, 2, sha="d")], _frame(second, _rows(second, 1, 2)))
    got = {r["order_id"]: r["file_name"] for r in ledger.rows_for_files([first, second])}
    assert got == {"o0": first, "o1": first, "o2": second}


def test_record_file_and_rows_are_idempotent(ledger: FlexLedger, mid: str) -> None:
    name = f"evaluate_{mid}_20261124_0001.json"
    assert ledger.file_state(name) is None
    ship(ledger, mid, name, 7, upload=False)
    assert (
        ledger.record_file(
            name, business_date=DAY, kind="evaluate", mid=mid, rows=7, sha256="a" * 64, rows_sha256="b" * 64
        )
        == "written"
    )
    assert ledger.record_rows(name, [{"order_id": "o1", "sequence_number": 2}]) == 0
    assert ledger.summary(DAY)["rows"]["evaluate"]["SHIPPED"] >= 7
    # new content while only written: accepted, old rows dropped for re-recording
    assert (
        ledger.record_file(
            name, business_date=DAY, kind="evaluate", mid=mid, rows=1, sha256="c" * 64, rows_sha256="d" * 64
        )
        == "written"
    )
    assert ledger.rows_for_orders(mid, "evaluate", ["o1"]) == {}
    assert ledger.record_rows(name, [{"order_id": "o1", "sequence_number": 1}]) == 1
    ledger.mark_uploaded(name, 123, "e" * 64)
    info = ledger.file_info(name)
    assert (info["state"], info["remote_size"], info["uploaded_sha256"]) == ("uploaded", 123, "e" * 64)
    with pytest.raises(LedgerConflictError):
        ledger.record_file(
            name, business_date=DAY, kind="evaluate", mid=mid, rows=1, sha256="f" * 64, rows_sha256="d" * 64
        )
    ledger.mark_acknowledged(name)
    ledger.mark_uploaded(name, 123, "e" * 64)  # a late re-upload record never moves it back
    assert ledger.file_state(name) == "acknowledged"
    with pytest.raises(KeyError):
        ledger.mark_uploaded("nope.json", 1, None)


def test_a_rerun_rebuilds_unshipped_files_and_numbers_new_ones_after_the_uploaded(
    ledger: FlexLedger, mid: str
) -> None:
    uploaded, written = f"evaluate_{mid}_20261124_0001.json", f"evaluate_{mid}_20261124_0002.json"
    ship(ledger, mid, uploaded, 2)
    ship(ledger, mid, written, 2, start=2, upload=False)  # the run died before this upload
    ship(ledger, mid, f"evaluate_{mid}_20261125_0007.json", 1, day=DAY + timedelta(days=1), start=9)
    assert ledger.next_file_number(mid, "evaluate", DAY) == 2  # a written file's number is reused
    assert ledger.next_file_number(mid, "transmit", DAY) == 1
    assert ledger.already_shipped(mid, "evaluate", ["o2", "o3"]) == {"o2", "o3"}
    assert ledger.discard_unshipped_files(mid, "evaluate", DAY) == [written]
    assert ledger.file_info(written) is None
    # its orders count as shipped no more (nobody uploaded them); the uploaded file's still do
    assert ledger.already_shipped(mid, "evaluate", ["o0", "o1", "o2", "o3"]) == {"o0", "o1"}
    assert ledger.discard_unshipped_files(mid, "evaluate", DAY) == []
