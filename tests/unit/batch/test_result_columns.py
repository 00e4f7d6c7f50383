"""
The column-wise result reader against the model: the same files accepted with the same values, the same
files rejected with the same reason; its events equal the row path's; a bad row late in a big file
changes nothing (one transaction), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from flex_provider.batch.ledger import FlexLedger
from flex_provider.batch.outbound import MalformedOutboundFile, iter_result_file, process_outbound_files
from flex_provider.batch.result_columns import iter_result_blocks, rows_to_block
from flex_provider.ledger import OrderEvent, order_events, order_state
from flex_provider.ledger.events import RESULT_EVENT_COLUMNS, result_event_table, result_key, result_tuple
from flex_provider.ledger.schema import EVENT_COLUMNS

MID = "m-cols"
NAME = "result_m-cols_20261215000000_0001.json"
GOOD_TIME = "2026-11-30T08:12:00Z"

# Each field: (values as Flex writes them, values the model may coerce, reject or read differently).
GOOD_TEXT = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12)
FIELDS = {
    "orderId": (GOOD_TEXT, st.one_of(st.sampled_from(["", 'a,"b"\\c', "x\ty"]), st.none(), st.integers(0, 9))),
    "orderSessionKey": (st.one_of(st.none(), GOOD_TEXT), st.integers(0, 3)),
    "status": (st.sampled_from(["APPROVED", "EXPIRED", "CANCELLED", "REFUNDED"]),
               st.sampled_from(["approved", "SUBMITTED", "", None, 1])),
    "confirmationId": (st.one_of(st.none(), GOOD_TEXT), st.one_of(st.integers(0, 3), st.just(""))),
    "amount": (st.one_of(st.none(), st.integers(-(2**40), 2**40)), st.sampled_from([1.0, 1.5, "12", True, 2**70])),
    "currency": (st.sampled_from([None, "USD", "JPY"]), st.sampled_from([3, ""])),
    "timestampUtc": (
        st.sampled_from([None, GOOD_TIME, "2026-11-30T08:12:00.5Z", "2026-11-30T08:12:00.123456+00:00"]),
        st.sampled_from(["2026-11-30T08:12:00+02:00", "2026-11-30T08:12:00", "2026-11-30 08:12:00Z",
                         "2026-02-30T00:00:00Z", "2026-11-30T23:59:60Z", "2026-11-30T08:12:00.1234567Z",
                         "2026-11-30", 1764490320, "yesterday"]),
    ),
}  # fmt: skip


@st.composite
def raw_rows(draw: Any) -> dict[str, Any]:
    """A row as Flex writes it, with now and then one odd value, a missing key or a snake_case key."""
    row: dict[str, Any] = {}
    for key, (good, odd) in FIELDS.items():
        roll = draw(st.integers(0, 29))
        if roll:  # mostly present
            row[key] = draw(odd if roll == 1 else good)
    if draw(st.integers(0, 14)) == 0:
        row[draw(st.sampled_from(["order_id", "confirmation_id", "timestamp_utc", "extra"]))] = draw(
            GOOD_TEXT
        )
    return row


def write_file(
    path: Path, rows: list[dict[str, Any]], *, count: int | None = None, layout: str = "lines", mid: str = MID
) -> None:
    header = {"fileType": "result", "mid": mid, "generatedAtUtc": "2026-12-15T00:00:00Z", "fileNumber": 1,
              "rowCount": len(rows) if count is None else count}  # fmt: skip
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    head = json.dumps(header)[:-1] + ',"rows":['
    if layout == "document":
        path.write_text(json.dumps({**header, "rows": rows}), encoding="utf-8")
        return
    body = ",\n".join(lines)
    tail = {"lines": "\n]}\n", "same_line": "]}\n", "blank": "\n\n]}\n\n", "crlf": "\r\n]}\r\n",
            "truncated": "\n"}[layout]  # fmt: skip
    if layout == "crlf":
        body = ",\r\n".join(lines)
    path.write_bytes((head + "\n" + body + tail).encode("utf-8"))


def read_model(path: Path) -> tuple[pa.Table | None, str | None]:
    """The model's reading; an amount no 64-bit column holds ends it where it is (the ledger's rule)."""
    parsed = []
    try:
        _, rows = iter_result_file(path)
        for row in rows:
            if row.amount is not None and not -(2**63) <= row.amount < 2**63:
                return None, "amount beyond 64 bits"
            parsed.append(row)
    except MalformedOutboundFile as exc:
        return None, exc.reason
    return rows_to_block(parsed), None


def read_columns(path: Path, block_lines: int) -> tuple[pa.Table | None, str | None]:
    try:
        _, blocks = iter_result_blocks(path, block_lines=block_lines)
        got = list(blocks)
        return (pa.concat_tables(got) if got else rows_to_block([])), None
    except MalformedOutboundFile as exc:
        return None, exc.reason


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(raw_rows(), max_size=12),
    plain=st.integers(0, 30),
    layout=st.sampled_from(["lines", "lines", "same_line", "blank", "crlf", "truncated", "document"]),
    block_lines=st.sampled_from([1, 3, 50_000]),
    miscount=st.booleans(),
)
def test_column_reader_equals_the_model(
    tmp_path: Path, rows: list[dict[str, Any]], plain: int, layout: str, block_lines: int, miscount: bool
) -> None:
    """Whatever the rows and layout: both readers accept with equal values, or reject with one reason."""
    good = [
        {"orderId": f"o{i}", "status": "APPROVED", "timestampUtc": GOOD_TIME, "amount": i}
        for i in range(plain)
    ]
    all_rows = good + rows + good
    path = tmp_path / NAME
    write_file(path, all_rows, count=len(all_rows) + 1 if miscount else None, layout=layout)
    assert_same_reading(path, block_lines)


def assert_same_reading(path: Path, block_lines: int) -> None:
    model, model_error = read_model(path)
    columns, columns_error = read_columns(path, block_lines)
    if model_error == "amount beyond 64 bits":  # the model takes it, no ledger column holds it
        assert columns_error is not None
        assert columns_error.endswith("amount: beyond 64 bits")
        return
    assert columns_error == model_error
    if model is not None:
        assert columns is not None
        assert columns.to_pylist() == model.to_pylist()


ONE_ROW_CASES = [
    {"orderId": "a", "status": "APPROVED", "confirmation_id": "X"},
    {"orderId": "a", "status": "APPROVED", "timestamp_utc": GOOD_TIME},
    {"order_id": "a", "status": "APPROVED"},
    {"orderId": "a", "status": "approved"},
    {"orderId": "", "status": "APPROVED"},
    {"status": "APPROVED"},
    {"orderId": "a"},
    {"orderId": "a", "status": "APPROVED", "amount": 2**70},
    {"orderId": "a", "status": "APPROVED", "amount": "12"},
    {"orderId": "a", "status": "APPROVED", "amount": 12.0},
    *({"orderId": "a", "status": "EXPIRED", "timestampUtc": t} for t in FIELDS["timestampUtc"][1].elements),
]


@pytest.mark.parametrize("row", ONE_ROW_CASES, ids=[json.dumps(r) for r in ONE_ROW_CASES])
@pytest.mark.parametrize("layout", ["lines", "document"])
def test_one_odd_row_reads_as_the_model_reads_it(tmp_path: Path, row: dict[str, Any], layout: str) -> None:
    """Each odd value, among plain rows: the column reader hands it to the model (same value or error)."""
    plain = {"orderId": "p", "status": "APPROVED", "timestampUtc": GOOD_TIME}
    path = tmp_path / NAME
    write_file(path, [plain, row, plain], layout=layout)
    assert_same_reading(path, 50_000)


def test_plain_file_is_read_by_the_column_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file as Flex writes it never reaches the model row by row (that is where the time went)."""
    from flex_provider.batch import result_columns

    def no_model(*_: Any) -> None:
        raise AssertionError("the model read a plain block")

    monkeypatch.setattr(result_columns._State, "model_block", no_model)
    rows = [{"orderId": f"o{i}", "status": "EXPIRED", "timestampUtc": GOOD_TIME, "amount": 5, "currency": "JPY",
             "orderSessionKey": None, "confirmationId": None} for i in range(1000)]  # fmt: skip
    path = tmp_path / NAME
    write_file(path, rows)
    _, blocks = iter_result_blocks(path, block_lines=300)
    assert sum(b.num_rows for b in blocks) == 1000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(raw_rows(), min_size=1, max_size=12), first=st.integers(1, 10**7))
def test_result_events_column_wise_equal_the_row_path(
    tmp_path: Path, rows: list[dict[str, Any]], first: int
) -> None:
    """Every staged column (keys, sort keys, times) equals ``result_tuple`` of the model's row."""
    path = tmp_path / NAME
    write_file(path, rows)
    try:
        _, model_rows = iter_result_file(path)
        parsed = list(model_rows)
    except MalformedOutboundFile:
        return
    if any(r.amount is not None and not -(2**63) <= r.amount < 2**63 for r in parsed):
        return  # the ledger refuses such a file (``read_model``); no 64-bit column holds it
    block = rows_to_block(parsed)
    got = [
        tuple(r[c] for c in RESULT_EVENT_COLUMNS)
        for r in result_event_table(MID, block, NAME, first).to_pylist()
    ]
    at = [EVENT_COLUMNS.index(c) for c in RESULT_EVENT_COLUMNS]
    want = [
        tuple(result_tuple(MID, row, result_key(row, NAME, first + i))[j] for j in at)
        for i, row in enumerate(parsed)
    ]
    assert got == want


def shipped_ledger(ledger: FlexLedger, n: int) -> tuple[str, str]:
    """n shipped orders of a fresh merchant (the PostgreSQL database is shared); its mid and file name."""
    mid = f"m-{uuid.uuid4().hex[:12]}"
    ledger.append_events(
        OrderEvent(
            mid=mid,
            order_id=f"o{i}",
            kind="shipped",
            event_key=f"f:{i}",
            status="SHIPPED",
            file_name="f",
            flex_time="2026-11-24T06:00:00Z",
        )
        for i in range(n)
    )
    return mid, f"result_{mid}_20261215000000_0001.json"


def test_bad_row_late_in_the_file_changes_nothing(
    tmp_path: Path, ledger: FlexLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed row after the first blocks were staged: quarantined, no event of it stored."""
    from flex_provider.batch import result_columns

    mid, name = shipped_ledger(ledger, 50)
    mine = order_events.c.mid == mid
    with ledger.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(order_events).where(mine)).scalar_one()
    rows = [
        {"orderId": f"o{i}", "status": "APPROVED", "timestampUtc": GOOD_TIME, "amount": 100}
        for i in range(50)
    ]
    rows[45]["status"] = "PAID"
    path = tmp_path / "in" / name
    path.parent.mkdir()
    write_file(path, rows, mid=mid)
    monkeypatch.setattr(result_columns, "BLOCK_LINES", 1)  # ~0.1 KB blocks: many staged before the bad one
    summary = process_outbound_files([path], ledger, tmp_path / "quarantine")
    assert summary["quarantined"] == [name]
    assert "bad row 46" in (tmp_path / "quarantine" / f"{name}.reason.txt").read_text()
    with ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(order_events).where(mine)).scalar_one() == before
        states = conn.execute(select(order_state.c.status).where(order_state.c.mid == mid)).scalars()
        assert set(states) == {"SHIPPED"}


def test_values_survive_the_copy(tmp_path: Path, ledger: FlexLedger) -> None:
    """Commas, quotes, backslashes, tabs, empty strings and non-ASCII text come back as written."""
    odd = ['a,"b"', "back\\slash", "tab\there", "", "é😀", "\\N", "NULL"]
    mid, name = shipped_ledger(ledger, 1)
    rows = [{"orderId": "o0", "status": "APPROVED", "confirmationId": c, "currency": c[:3], "orderSessionKey": c,
             "timestampUtc": GOOD_TIME} for c in odd]  # fmt: skip
    rows.append({"orderId": "o0", "status": "EXPIRED"})
    path = tmp_path / name
    write_file(path, rows, mid=mid)
    summary = process_outbound_files([path], ledger, tmp_path / "quarantine")
    assert summary["processed"] == [name]
    with ledger.engine.connect() as conn:
        stored = conn.execute(
            select(order_events.c.event_key, order_events.c.confirmation_id, order_events.c.order_session_key,
                   order_events.c.currency, order_events.c.flex_time).where(order_events.c.kind == "result", order_events.c.mid == mid)
        ).all()  # fmt: skip
    by_key = {k: (c, o, cur, t) for k, c, o, cur, t in stored}
    for i, value in enumerate(odd, start=1):
        assert by_key[f"{name}:{i}"][:3] == (value, value, value[:3])
    assert by_key[f"{name}:{len(rows)}"] == (None, None, None, None)
