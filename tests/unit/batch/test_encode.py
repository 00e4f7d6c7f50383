"""
Encoding rows (flex_provider.batch.encode): each JSON row is what the request model reads back to the
values given, with no null keys; each row's idempotency key is the provider's one key function's.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import polars as pl

from flex_provider.batch.checks import check_chunk
from flex_provider.batch.coerce import to_chunk
from flex_provider.batch.columns import CSV_COLUMNS
from flex_provider.batch.encode import csv_frame, idempotency_keys, iso_datetime, json_rows, wire_datetime
from flex_provider.idempotency import idempotency_key
from flex_provider.models.api import EvaluateRequest
from tests.fixtures.batch import MID, source_row

NOW = datetime(2026, 11, 25, 6, tzinfo=timezone.utc)


def _typed(kind: str, rows: list[dict]) -> pl.DataFrame:
    checked = check_chunk(to_chunk(rows), kind=kind, mid=MID, default_expiry=None, now=NOW)  # type: ignore[arg-type]
    assert checked.reason.null_count() == len(rows)  # every row good
    frame = pl.DataFrame(list(checked.typed.values()))
    return frame.with_columns(key=idempotency_keys(MID, frame["order_id"], kind))  # type: ignore[arg-type]


def test_idempotency_keys_are_the_provider_keys() -> None:
    ids = ["sub-1-2026-11", "a:b", "ünïcode-订单", "x" * 300, " "]
    for kind in ("evaluate", "transmit"):
        got = idempotency_keys(MID, pl.Series(ids), kind).to_list()  # type: ignore[arg-type]
        assert got == [idempotency_key(MID, o, kind) for o in ids]
    assert idempotency_keys(MID, pl.Series([], dtype=pl.String), "evaluate").to_list() == []


def test_json_rows_read_back_to_the_values_given() -> None:
    rows = [
        source_row(0, declined_at="2026-11-24T06:00:00.250000+01:00", timezone_utc_offset=-5.5,
                   billing_city='Spring"field\\ Ünï', is_recurring=True),
        source_row(1, billing_city=None, billing_country_code=None, payer_email=None, payer_id=None),
    ]  # fmt: skip
    frame = _typed("evaluate", rows)
    bodies = json_rows("evaluate", MID, frame).to_list()
    docs = [json.loads("{" + '"sequenceNumber":"1",' + b) for b in bodies]
    first, second = (EvaluateRequest.model_validate(d) for d in docs)
    assert (first.order_id, first.mid, first.idempotency_key) == ("sub-0-2026-11", MID, frame["key"][0])
    assert (first.transaction.amount, first.transaction.currency) == (1999, "USD")
    assert docs[0]["transaction"]["timestampUtc"] == "2026-11-24T05:00:00.250000Z"
    assert docs[0]["transaction"]["timezoneUtcOffset"] == -5.5
    assert docs[0]["billingInformation"]["city"] == 'Spring"field\\ Ünï'
    assert docs[0]["isRecurring"] is True
    assert docs[0]["paymentMethod"]["cardNumber"] == "tok_0000000000"
    assert "null" not in bodies[1]  # what is not given is left out (exclude_none)
    assert "payer" not in docs[1]  # an object with nothing given is left out whole
    assert "billingInformation" not in docs[1]
    assert second.transaction.id == "psp-tx-1"


def test_transmit_csv_columns_are_text_in_the_documented_order() -> None:
    frame = _typed("transmit", [source_row(0), source_row(1, card_token=None, is_recurring=False)])
    csv = csv_frame("transmit", MID, frame, CSV_COLUMNS)
    assert tuple(csv.columns) == CSV_COLUMNS[1:]  # sequenceNumber is numbered per file
    assert set(csv.dtypes) == {pl.String}
    first, second = csv.to_dicts()
    assert (first["mid"], first["isDeclined"], first["transaction.amount"]) == (MID, "false", "1999")
    assert first["idempotencyKey"] == idempotency_key(MID, "sub-0-2026-11", "transmit")
    assert (first["paymentMethod.token"], second["paymentMethod.token"]) == ("true", None)
    assert second["isRecurring"] == "false"


def test_times_are_written_in_utc_with_microseconds_only_when_there_are_some() -> None:
    times = pl.DataFrame({"t": [datetime(2026, 11, 24, 6, tzinfo=timezone.utc),
                                datetime(2026, 11, 24, 6, 0, 0, 5, tzinfo=timezone.utc), None]})  # fmt: skip
    assert times.select(wire_datetime(pl.col("t")))["t"].to_list() == [
        "2026-11-24T06:00:00Z", "2026-11-24T06:00:00.000005Z", None
    ]  # fmt: skip
    assert times.select(iso_datetime(pl.col("t")))["t"].to_list()[:2] == [
        "2026-11-24T06:00:00+00:00", "2026-11-24T06:00:00.000005+00:00"
    ]  # fmt: skip
