"""
Casting source values (flex_provider.batch.coerce): the model's type or a mark, never a guess; the
vectorised column path casts exactly as the value-by-value path does.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from flex_provider.batch.coerce import CoercionError, cast_column, coerce_value, is_null, to_chunk

UTC = timezone.utc


def test_times_are_aware_utc_and_a_naive_time_is_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert coerce_value(datetime(2026, 11, 24, 6), "datetime") == datetime(2026, 11, 24, 6, tzinfo=UTC)
    assert coerce_value(datetime(2026, 11, 24, 8, tzinfo=plus_two), "datetime") == datetime(
        2026, 11, 24, 6, tzinfo=UTC
    )
    assert coerce_value(" 2026-11-24T08:00:00+02:00 ", "datetime") == datetime(2026, 11, 24, 6, tzinfo=UTC)
    assert coerce_value("2026-11-24T06:00:00Z", "datetime").tzinfo == UTC
    assert coerce_value(date(2026, 11, 24), "datetime") == datetime(2026, 11, 24, tzinfo=UTC)
    with pytest.raises(CoercionError) as err:
        coerce_value("yesterday", "datetime")
    assert "yesterday" not in str(err.value)  # the message never holds the value


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("1999", "int", 1999), (1999.0, "int", 1999), ("-5", "int", -5), (" 7 ", "int", 7),
        ("yes", "bool", True), ("F", "bool", False), (1.0, "bool", True), (0, "bool", False),
        (3184, "str", "3184"), (42.0, "str", "42"), ("  x ", "str", "x"), ("", "str", None), ("  ", "int", None),
        (float("nan"), "int", None), (None, "datetime", None), (pd.NA, "bool", None), (pd.NaT, "datetime", None),
    ],
)  # fmt: skip
def test_values_cast_to_the_field_type(value: Any, kind: str, expected: Any) -> None:
    assert coerce_value(value, kind) == expected


@pytest.mark.parametrize(
    ("value", "kind"),
    [("12x", "int"), (19.5, "int"), (True, "int"), ("١٢", "int"), ("maybe", "bool"), (2, "bool"), (True, "str"),
     ("abc", "float"), (False, "float")],
)  # fmt: skip
def test_values_that_are_not_of_the_type_are_marked(value: Any, kind: str) -> None:
    with pytest.raises(CoercionError):
        coerce_value(value, kind)


def test_an_integer_last4_gets_its_leading_zeros_back() -> None:
    assert coerce_value(42, "str", "card_last4") == "0042"
    assert cast_column(pl.Series([42, 3184, None]), "str", "card_last4")[0].to_list() == [
        "0042",
        "3184",
        None,
    ]


COLUMNS: list[tuple[list[Any], str]] = [
    (["1999", " 7 ", "12x", "", None, "-0", "١٢"], "int"),
    (["yes", "No", "maybe", " t ", None], "bool"),
    (["2026-11-24T06:00:00Z", "2026-11-24T08:00:00+02:00", "bad", None, "2026-11-24"], "datetime"),
    ([1.0, 2.5, None, float("nan"), 3.0], "int"),
    ([1.0, 3.0, None], "str"),
    ([1, 0, 2, None], "bool"),
    ([True, False, None], "int"),
    ([12, -3, None], "float"),
    ([" a ", "\u3000b\u3000", "", None], "str"),
]


@pytest.mark.parametrize(("values", "kind"), COLUMNS, ids=[f"{k}-{i}" for i, (_, k) in enumerate(COLUMNS)])
def test_the_column_path_casts_as_the_value_path(values: list[Any], kind: str) -> None:
    expected_values, expected_bad = [], []
    for v in values:
        try:
            expected_values.append(coerce_value(v, kind))
            expected_bad.append(False)
        except CoercionError:
            expected_values.append(None)
            expected_bad.append(True)
    typed, bad = cast_column(pl.Series("c", values, strict=False), kind, "c")
    assert (typed.to_list(), bad.to_list()) == (expected_values, expected_bad)


def test_every_input_shape_becomes_the_same_columns() -> None:
    rows = [{"order_id": "a", "amount_cents": 1}, {"order_id": "b", "amount_cents": None, "extra": "x"}]
    frames = [rows, pl.DataFrame(rows), pd.DataFrame(rows), pa.Table.from_pylist(rows),
              pa.Table.from_pylist(rows).to_batches()[0]]  # fmt: skip
    for frame in frames:
        chunk = to_chunk(frame)
        assert chunk.rows == 2
        assert list(chunk.columns)[:2] == ["order_id", "amount_cents"]
        amounts, bad = cast_column(chunk.raw("amount_cents"), "int", "amount_cents")
        assert (amounts.to_list(), bad.to_list()) == ([1, None], [False, False]), type(frame)
    mixed = to_chunk([{"v": 1}, {"v": "2"}])  # hand-made rows of two types stay values
    assert mixed.raw("v") == [1, "2"]
    assert [is_null(v) for v in (" ", float("nan"), None, 0, "0")] == [True, True, True, False, False]


@pytest.mark.parametrize("values", [[2**70, 5], [Decimal("99999999999999999999999.00"), Decimal("5.00")]])
def test_an_integer_beyond_64_bits_is_marked_not_a_crash(values: list[Any]) -> None:
    """The typed column is 64-bit: a bigger whole number (a Python int, a numeric) is a bad value."""
    raw = pl.Series("amount_cents", values, dtype=pl.Decimal(38, 2)) if isinstance(values[0], Decimal) else values
    typed, bad = cast_column(raw, "int", "amount_cents")
    assert (typed.to_list(), bad.to_list()) == ([None, 5], [True, False])
