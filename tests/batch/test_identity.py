"""
The column writer against the per-row writer it replaced (``git show 019e539:flex_provider/batch/writer.py``).

On the demo data (``flex_provider.merchant.generate``, bad rows included) and on the fault suite's bad
rows, read from SQLite and PostgreSQL by the DAGs' own SQL: the batch files, their ledger sidecars and
every row's fate are the old writer's, byte for byte, apart from the documented changes
(docs/batch-files.md "Changes from the per-row writer"): whole reasons from one list, and a decline
without a card token is rejected (``missing_card_token``) instead of shipped.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from flex_provider.batch.columns import AMOUNT_COLUMNS, CURRENCY_COLUMNS
from flex_provider.batch.source import arrow_chunks
from flex_provider.batch.writer import BatchWriter
from flex_provider.merchant.generate import generate
from flex_provider.operators.common import read_sql
from tests.batch.test_differential import OLD
from tests.fixtures.postgres import fresh_database, pg_url

SQL = Path(__file__).resolve().parents[2] / "dags" / "sql"
MID = "6c5b7d1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 25, 6, tzinfo=timezone.utc)
WINDOW = {"window_start": "2026-11-24T00:00:00Z", "window_end": "2026-11-25T00:00:00Z"}
PAN = "4111111111111111"


def documented_reason(field: str, old: str) -> str:
    """The reason the column writer gives for what the per-row writer called ``old`` (docs/batch-files.md)."""
    code = old.split(":", 1)[0].strip()
    if code == "pan_detected":
        return f"pan_detected:{field}"
    if code == "missing":
        return f"missing:{field}"
    if code in (
        "invalid_amount",
        "invalid_currency",
        "expiry_in_past",
        "already_shipped",
        "duplicate_order",
        "mid_mismatch",
    ):
        return code
    if field in AMOUNT_COLUMNS:
        return "invalid_amount"
    if field in CURRENCY_COLUMNS:
        return "invalid_currency"
    return {"string_too_short": f"too_short:{field}", "string_too_long": f"too_long:{field}"}.get(
        code, f"invalid:{field}"
    )


def _old_chunks(engine: Engine, sql: str) -> Iterator[list[dict[str, Any]]]:
    """The rows as the per-row writer's operator fetched them: dicts from a server-side cursor."""
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True).execute(text(sql), WINDOW)
        keys = tuple(result.keys())
        for part in result.partitions(1000):
            yield [dict(zip(keys, r, strict=True)) for r in part]


def _run(writer_cls: type, out: Path, chunks: Any, kind: str) -> dict[str, Any]:
    kind, _, file_format = kind.partition("-")
    return writer_cls(
        kind=kind, mid=MID, business_date=DAY, out_dir=out, now=lambda: NOW, file_format=file_format or "json",
        default_expiry=timedelta(days=22) if kind == "evaluate" else None,
    ).write(chunks)  # fmt: skip


def _rejects(path: str) -> dict[int, dict[str, str]]:
    with Path(path).open(newline="") as fh:
        return {int(r["source_row"]): r for r in csv.DictReader(fh)}


def _add_fault_rows(engine: Engine) -> None:
    """The fault suite's bad rows (tests/faults/harness.py ``add_declines``), on top of the demo data."""
    spoil = {
        "missing_amount": "amount_cents = NULL",
        "negative_amount": "amount_cents = -500",
        "zero_amount": "amount_cents = 0",
        "unknown_currency": "currency = 'DOLLAR'",
        "unknown_currency_3": "currency = 'ZZQ'",
        "lower_currency": "currency = 'usd'",
        "missing_currency": "currency = NULL",
        "missing_transaction_id": "psp_transaction_id = NULL",
        "pan_in_description": f"description = 'ACME card {PAN}'",
        "pan_in_decline_message": f"decline_message = 'refused {PAN}'",
    }
    with engine.begin() as conn:
        for status in ("DECLINED", "APPROVED"):
            ids = conn.execute(
                text(
                    "SELECT id FROM orders WHERE response_status = :s AND is_mit = TRUE ORDER BY id LIMIT 40"
                ),
                {"s": status},
            ).scalars()
            for i, change in zip(list(ids)[::3], spoil.values(), strict=False):
                conn.execute(text(f"UPDATE orders SET {change} WHERE id = :i"), {"i": i})


@pytest.fixture(params=["sqlite", "postgres"])
def merchant(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'merchant.db'}")
        yield engine
        engine.dispose()
        return
    with fresh_database("flex_identity") as name:
        engine = create_engine(pg_url(name))
        yield engine
        engine.dispose()


def _compare(tmp_path: Path, merchant: Engine, kind: str, sql: str, run: str) -> dict[int, dict[str, str]]:
    """Run both writers; check reasons; return the rejects only the new writer has."""
    old = _run(OLD.BatchWriter, tmp_path / run / "old", _old_chunks(merchant, sql), kind)
    new = _run(BatchWriter, tmp_path / run / "new", arrow_chunks(merchant, sql, WINDOW, chunk_rows=700), kind)
    assert old["extracted"] == new["extracted"] > 2000
    old_rejects, new_rejects = _rejects(old["rejects_file"]), _rejects(new["rejects_file"])
    assert len(old_rejects) >= 8  # the demo's and the fault suite's bad rows
    # every row the old writer rejected, the new one rejects with the documented reason
    for n, r in old_rejects.items():
        assert (new_rejects[n]["order_id"], new_rejects[n]["field"]) == (r["order_id"], r["field"])
        assert new_rejects[n]["reason"] == documented_reason(r["field"], r["reason"]), r
    added = {n: r for n, r in new_rejects.items() if n not in old_rejects}
    if not added:  # the same rows shipped: the same files and sidecars, byte for byte
        assert old["files"] == new["files"]
        for name in old["files"]:
            for file in (name, f"ledger_rows_{name}.json"):
                assert (tmp_path / run / "new" / file).read_bytes() == (
                    tmp_path / run / "old" / file
                ).read_bytes()
        return added
    # otherwise every other row is shipped with the old writer's JSON
    old_rows, new_rows = (
        _rows(tmp_path / run / "old", old["files"]),
        _rows(tmp_path / run / "new", new["files"]),
    )
    dropped = {r["order_id"] for r in added.values()}
    assert set(old_rows) - set(new_rows) == dropped
    assert {k: v for k, v in old_rows.items() if k not in dropped} == new_rows
    return added


def _rows(out: Path, names: list[str]) -> dict[str, str]:
    """order id -> row JSON (without sequenceNumber) of every file."""
    import json

    got = {}
    for name in names:
        for line in (out / name).read_text(encoding="utf-8").split("\n")[1:-2]:
            body = "{" + line.rstrip(",").split(",", 1)[1]
            got[json.loads(body)["orderId"]] = body
    return got


@pytest.mark.parametrize("kind", ["evaluate", "transmit", "transmit-csv"])
def test_files_are_the_old_writers_apart_from_documented_changes(
    merchant: Engine, tmp_path: Path, kind: str
) -> None:
    generate(merchant, rows=5000, days=1, end_date=DAY, bad_share=0.05, seed=11)
    _add_fault_rows(merchant)
    sql = read_sql(str(SQL / ("extract_declined_mit.sql" if kind == "evaluate" else "extract_approved.sql")))
    assert _compare(tmp_path, merchant, kind, sql, "same") == {}
    if kind == "transmit-csv":
        return
    # documented change: a decline without a card token is rejected, never shipped
    shipped = OLD.read_manifest(next((tmp_path / "same" / "old").glob("manifest_*.json")))
    order_id = shipped.files[-1].last_order_id  # a good row the old writer shipped
    with merchant.begin() as conn:
        conn.execute(text("UPDATE orders SET card_token_id = NULL WHERE order_id = :o"), {"o": order_id})
    added = _compare(tmp_path, merchant, kind, sql, "tokenless")
    if kind == "evaluate":
        assert [(r["order_id"], r["field"], r["reason"]) for r in added.values()] == [
            (order_id, "card_token", "missing_card_token")
        ]
    else:  # transmit rows are approved charges: a missing token is no reason to hold them back
        assert added == {}


def test_awkward_values_are_written_as_the_old_writer_wrote_them(tmp_path: Path) -> None:
    """
    Values the demo data never holds, fed to both writers as the same rows: date-times with microseconds,
    float offsets (``json.dumps``' text: ``5.5``, ``-3.0``, ``1e-05``), text with quotes, backslashes,
    non-ASCII and an emoji, an order id with a quote (the sidecar's JSON), own expiries. The files must be
    the old writer's byte for byte, the sidecars the same ledger rows (the old writer wrote an own
    expiry as ``+00:00`` on one of its row paths and ``Z`` on the other; the new one always ``+00:00``).
    """
    from flex_provider.batch.manifest import read_ledger_rows
    from tests.batch.conftest import source_row

    texts = ['say "hi"', "back\\slash", "Refusé – ü", "emoji 🎉", "tab\tstop", "", "plain"]
    offsets = [5.5, -3.0, 1e-05, 0.1 + 0.2, None, 12.0, -0.5]
    rows = []
    for i in range(60):
        at = datetime(2026, 11, 24, 6, 1, 2, (i * 12345) % 1_000_000 if i % 3 else 0, tzinfo=timezone.utc)
        rows.append(
            source_row(
                i,
                order_id=f'ord-"{i}"' if i % 7 == 0 else f"ord-{i}",
                declined_at=at,
                timezone_utc_offset=offsets[i % len(offsets)],
                response_description=texts[i % len(texts)],
                billing_city=texts[(i + 3) % len(texts)] or None,
                expiry_date_utc=(at + timedelta(days=30, microseconds=7)) if i % 5 == 0 else None,
            )
        )
    old = _run(OLD.BatchWriter, tmp_path / "old", [rows[:25], rows[25:]], "evaluate")
    new = _run(BatchWriter, tmp_path / "new", [rows[:25], rows[25:]], "evaluate")
    assert (old["written"], old["rejected"]) == (new["written"], new["rejected"]) == (60, 0)
    assert old["files"] == new["files"]
    for name in old["files"]:
        assert (tmp_path / "new" / name).read_bytes() == (tmp_path / "old" / name).read_bytes()
        new_rows = read_ledger_rows(tmp_path / "new" / name)
        assert new_rows is not None
        assert new_rows == read_ledger_rows(tmp_path / "old" / name)
        assert sum(r["expiry_date_utc"] != new_rows[1]["expiry_date_utc"] for r in new_rows) == 12  # own ones
