"""
Columns as PostgreSQL's ADBC driver hands them over (uuid, numeric, jsonb, inet, interval), read through
``arrow_chunks`` from a real server, then written: a uuid order id ships as its text, a whole numeric
amount as its integer, a card number inside jsonb is found; a type the writer cannot read fails the run
with the cast to write when the batch uses the column, and is dropped when it does not.
"""

from __future__ import annotations

import csv
import json
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from flex_provider.batch.driver_types import UnreadableColumnError
from flex_provider.batch.source import arrow_chunks
from flex_provider.batch.writer import BatchWriter

DAY = date(2026, 11, 24)
MID = "6c5b7d1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
ORDER = uuid.UUID("6f1f4b0e-8b1c-4d8e-9a52-0c0ffee00001")


@pytest.fixture
def engine(pg_url: str) -> Any:
    eng = create_engine(pg_url)
    yield eng
    eng.dispose()


def _write(engine: Any, sql: str, tmp_path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[tuple[str, str]]]:
    writer = BatchWriter(kind="evaluate", mid=MID, business_date=DAY, out_dir=tmp_path)
    summary = writer.write(arrow_chunks(engine, sql))
    path = tmp_path / writer.file_name(1)
    rows = [json.loads(line.rstrip(",")) for line in path.read_text().splitlines()[1:-1]] if path.exists() else []
    with (tmp_path / writer.rejects_name).open(encoding="utf-8", newline="") as fh:
        rejects = [(r["order_id"], r["reason"]) for r in csv.DictReader(fh)]
    return summary, rows, rejects


def test_a_uuid_order_id_ships_as_its_text(engine: Any, tmp_path: Path) -> None:
    sql = f"SELECT UUID '{ORDER}' AS order_id, 1999 AS amount_cents, 't1' AS transaction_id, 'USD' AS currency, " \
          "'tok_1' AS card_token, TIMESTAMPTZ '2026-11-24 10:00+00' AS transaction_at, true AS is_mit, " \
          "true AS is_recurring"  # fmt: skip
    _, rows, rejects = _write(engine, sql, tmp_path)
    assert [r["orderId"] for r in rows] == [str(ORDER)]
    assert rejects == []


def _declines(engine: Any, name: str, columns: str, values: list[str]) -> str:
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
        conn.execute(text(f"CREATE TABLE {name} (order_id text, {columns}, transaction_id text, currency text, "
                          "card_token text, transaction_at timestamptz, is_mit boolean, is_recurring boolean)"))  # fmt: skip
        for n, value in enumerate(values, 1):
            conn.execute(text(f"INSERT INTO {name} VALUES ('o{n}', {value}, 't{n}', 'USD', 'tok_{n}', "
                              "'2026-11-24 10:00+00', true, true)"))  # fmt: skip
    return f"SELECT * FROM {name} ORDER BY order_id"


def test_whole_numeric_amounts_are_integers_and_fractions_are_rejected(engine: Any, tmp_path: Path) -> None:
    sql = _declines(engine, "flex_t_numeric", "amount_cents numeric(14, 2), payment_number numeric",
                    ["1999.00, 3", "19.99, 4", "500, 5.0"])  # fmt: skip
    _, rows, rejects = _write(engine, sql, tmp_path)
    assert [(r["orderId"], r["transaction"]["amount"], r["subscription"]["paymentNumber"]) for r in rows] == [
        ("o1", 1999, "3"),
        ("o3", 500, "5"),
    ]
    assert rejects == [("o2", "invalid_amount")]


def test_a_card_number_inside_jsonb_is_found(engine: Any, tmp_path: Path) -> None:
    sql = _declines(engine, "flex_t_json", "amount_cents integer, notes jsonb",
                    ["1999, '{\"card\": \"4111 1111 1111 1111\"}'", "1999, '[1, 2]'"])  # fmt: skip
    _, rows, rejects = _write(engine, sql, tmp_path)
    assert [r["orderId"] for r in rows] == ["o2"]
    assert rejects == [("o1", "pan_detected:notes")]


@pytest.mark.parametrize(("column", "kind", "value"), [("customer_ip", "inet", "'10.0.0.1'"),
                                                         ("subscription_interval", "interval", "'1 month'")])  # fmt: skip
def test_a_type_the_writer_cannot_read_fails_the_run_naming_the_cast(
    engine: Any, tmp_path: Path, column: str, kind: str, value: str
) -> None:
    sql = _declines(engine, f"flex_t_{kind}", f"amount_cents integer, {column} {kind}", [f"1999, {value}"])
    with pytest.raises(UnreadableColumnError, match=rf"{column}::text AS {column}"):
        _write(engine, sql, tmp_path)


def test_a_type_the_writer_cannot_read_in_a_column_it_does_not_use_is_left_out(engine: Any, tmp_path: Path) -> None:
    sql = _declines(engine, "flex_t_extra", "amount_cents integer, last_ip inet, grace interval",
                    ["1999, '10.0.0.1', '3 days'"])  # fmt: skip
    summary, rows, _ = _write(engine, sql, tmp_path)
    assert (summary["written"], [r["orderId"] for r in rows]) == (1, ["o1"])


def test_python_decimals_count_like_numeric_columns(tmp_path: Path) -> None:
    def row(n: int, amount: Decimal) -> dict[str, Any]:
        return {"order_id": f"o{n}", "transaction_id": f"t{n}", "amount_cents": amount, "currency": "USD",
                "card_token": "tok", "transaction_at": "2026-11-24T10:00:00Z", "is_mit": True, "is_recurring": True}  # fmt: skip

    writer = BatchWriter(kind="evaluate", mid=MID, business_date=DAY, out_dir=tmp_path)
    summary = writer.write([[row(1, Decimal("1999.00")), row(2, Decimal("19.99")), row(3, Decimal("NaN"))]])
    assert summary["written"] == 1
    body = (tmp_path / writer.file_name(1)).read_text().splitlines()[1]
    assert json.loads(body.rstrip(","))["transaction"]["amount"] == 1999
    with (tmp_path / writer.rejects_name).open(encoding="utf-8", newline="") as fh:
        assert [(r["order_id"], r["reason"]) for r in csv.DictReader(fh)] == [
            ("o2", "invalid_amount"),
            ("o3", "invalid_amount"),
        ]


def test_mysql_bit_one_values_are_booleans(tmp_path: Path) -> None:
    """MySQL's BIT(1) reaches Python as one byte (PyMySQL, through the SQLAlchemy path)."""

    def row(n: int, flag: bytes) -> dict[str, Any]:
        return {"order_id": f"o{n}", "transaction_id": f"t{n}", "amount_cents": 1999, "currency": "USD",
                "card_token": "tok", "transaction_at": "2026-11-24T10:00:00Z", "is_mit": True, "is_recurring": flag}  # fmt: skip

    writer = BatchWriter(kind="evaluate", mid=MID, business_date=DAY, out_dir=tmp_path)
    writer.write([[row(1, b"\x01"), row(2, b"\x00"), row(3, b"\x02")]])
    lines = (tmp_path / writer.file_name(1)).read_text().splitlines()[1:-1]
    assert [json.loads(line.rstrip(","))["isRecurring"] for line in lines] == [True, False]
    with (tmp_path / writer.rejects_name).open(encoding="utf-8", newline="") as fh:
        assert [(r["order_id"], r["reason"]) for r in csv.DictReader(fh)] == [("o3", "invalid:is_recurring")]
