"""
Turn one input chunk (Arrow, polars, pandas, or a list of dicts) into typed columns, a whole column at a time.

Each source column that feeds the body is cast to the type its model field has (text is stripped; an
empty text, NULL, NaN or NaT means "not given"). A value that cannot be cast is marked, never guessed:
the checks reject its row. Columns whose values are all of one Python type take the vectorised path;
only a column mixing types (hand-made rows) is cast value by value, with the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa

from flex_provider.batch.columns import (
    COLUMN_ALIASES,
    CONTROL_COLUMNS,
    INT_TEXT,
    PY_WHITESPACE,
    SOURCE_COLUMNS,
    ZERO_PADDED,
)
from flex_provider.batch.driver_types import plain_table
from flex_provider.utc import parse_utc, to_utc

#: Every column name a batch reads (an unreadable driver type there raises; elsewhere it is dropped).
USED_COLUMNS = frozenset({*SOURCE_COLUMNS, *COLUMN_ALIASES, *CONTROL_COLUMNS})

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
DTYPES = {
    "str": pl.String,
    "int": pl.Int64,
    "float": pl.Float64,
    "bool": pl.Boolean,
    "datetime": pl.Datetime("us", "UTC"),
}


@dataclass
class Chunk:
    """One input chunk: every column by name (source order), as a polars Series or a list of Python values."""

    columns: dict[str, pl.Series | list[Any]]
    rows: int

    def raw(self, name: str) -> pl.Series | list[Any]:
        return self.columns[name]


#: :func:`flex_provider.utc.to_utc` under the name ``writer.py`` imports it by (one helper, not a copy).
as_utc = to_utc


class CoercionError(ValueError):
    """A value of the wrong type; the message never holds the value."""


def _plain(value: Any) -> Any:
    """numpy/pandas scalars -> Python scalars."""
    if type(value) in (str, int, float, bool, datetime, date) or value is None:
        return value
    to_py = getattr(value, "to_pydatetime", None)
    if to_py is not None:
        return to_py()
    item = getattr(value, "item", None)
    if item is not None:
        try:
            return item()
        except (TypeError, ValueError):
            return value
    return value


def is_null(value: Any) -> bool:
    """None, NaN, an empty or blank text, pandas NA/NaT."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return not value.strip()
    return type(value).__name__ in {"NAType", "NaTType"}


def coerce_value(value: Any, kind: str, column: str = "") -> Any:
    """One value -> the field's type (None when not given); :class:`CoercionError` when it cannot be."""
    value = _plain(value)
    if is_null(value):
        return None
    if isinstance(value, Decimal):  # a numeric column: whole values are integers, 1999.00 included
        if not value.is_finite():
            raise CoercionError("expected a finite number")
        if value == value.to_integral_value():
            value = int(value)
        elif kind == "str":
            return format(value, "f")
        else:
            value = float(value)
    if kind == "str":
        if isinstance(value, bool):
            raise CoercionError("expected text, got a boolean")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int):
            text = str(value)
            return text.zfill(ZERO_PADDED[column]) if column in ZERO_PADDED else text
        if isinstance(value, (datetime, date)):
            return value.isoformat()
        return str(value).strip() or None
    if kind == "int":
        if isinstance(value, bool):
            raise CoercionError("expected an integer, got a boolean")
        whole_text = isinstance(value, str) and INT_TEXT.match(value) and value.strip().lstrip("-").isascii()
        if (isinstance(value, float) and value.is_integer()) or whole_text:
            value = int(value)
        if not isinstance(value, int):
            raise CoercionError("expected an integer")
        if not -(2**63) <= value < 2**63:  # the typed column is 64-bit, as the ledger's amounts are
            raise CoercionError("expected an integer within 64 bits")
        return value
    if kind == "float":
        if isinstance(value, bool):
            raise CoercionError("expected a number, got a boolean")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise CoercionError("expected a number") from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):  # a NULL makes pandas' int column float
            return bool(value)
        if isinstance(value, bytes) and value in (b"\x00", b"\x01"):  # MySQL's BIT(1)
            return value == b"\x01"
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
        raise CoercionError("expected a boolean")
    if kind == "datetime":
        if isinstance(value, datetime):
            return to_utc(value)
        if isinstance(value, date):
            return datetime.combine(value, time(), tzinfo=timezone.utc)
        if isinstance(value, str):
            parsed = parse_utc(value)
            if parsed is None:
                raise CoercionError("expected an ISO 8601 date-time")
            return parsed
        raise CoercionError("expected a date-time")
    raise AssertionError(kind)  # pragma: no cover


# --- chunks -------------------------------------------------------------------------------------


def _series_or_values(name: str, values: list[Any]) -> pl.Series | list[Any]:
    """A polars Series when every given value has one plain type, else the values themselves."""
    values = [_plain(v) for v in values]
    seen = {type(v) for v in values if v is not None and not (type(v) is float and math.isnan(v))}
    if len(seen) == 1 and next(iter(seen)) in (str, int, bool, float, date):
        try:
            return pl.Series(name, values, strict=True, nan_to_null=True)
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            return values
    if not seen:
        return pl.Series(name, [None] * len(values), dtype=pl.Null)
    return values


def to_chunk(chunk: Any) -> Chunk:
    """Normalise one input chunk (Arrow RecordBatch/Table, polars/pandas DataFrame, list of dicts)."""
    if isinstance(chunk, (pa.RecordBatch, pa.Table)):
        chunk = pl.from_arrow(plain_table(chunk, USED_COLUMNS))
    if isinstance(chunk, pl.DataFrame):
        return Chunk({c: chunk.get_column(c) for c in chunk.columns}, chunk.height)
    if hasattr(chunk, "to_dict") and hasattr(chunk, "dtypes"):  # pandas
        cols: dict[str, pl.Series | list[Any]] = {}
        for name in chunk.columns:
            series = chunk[name]
            if (
                series.dtype == object
                or str(series.dtype) in {"string", "boolean"}
                or str(series.dtype).startswith("Int")
            ):
                cols[str(name)] = _series_or_values(str(name), series.tolist())
            else:
                try:
                    cols[str(name)] = pl.from_pandas(series, nan_to_null=True).alias(str(name))
                except Exception:  # noqa: BLE001 - any dtype polars cannot take: value by value
                    cols[str(name)] = [_plain(v) for v in series.tolist()]
        return Chunk(cols, len(chunk))
    rows: list[Mapping[str, Any]] = chunk if isinstance(chunk, list) else list(chunk)
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return Chunk({n: _series_or_values(n, [r.get(n) for r in rows]) for n in names}, len(rows))


# --- casting a column ---------------------------------------------------------------------------


def _cast_values(values: Iterable[Any], kind: str, column: str) -> tuple[pl.Series, pl.Series]:
    out, bad = [], []
    for v in values:
        try:
            out.append(coerce_value(v, kind, column))
            bad.append(False)
        except CoercionError:
            out.append(None)
            bad.append(True)
    return pl.Series(column, out, dtype=DTYPES[kind]), pl.Series(column, bad, dtype=pl.Boolean)


def cast_column(raw: pl.Series | list[Any], kind: str, column: str) -> tuple[pl.Series, pl.Series]:
    """
    (typed values, bad) of one source column for a field of type ``kind``: ``bad`` marks the values
    that could not be cast (their typed value is null).
    """
    if isinstance(raw, list):
        return _cast_values(raw, kind, column)
    s = raw
    dt = s.dtype
    none = pl.Series(column, [False] * len(s), dtype=pl.Boolean)
    if dt == pl.Null:
        return pl.Series(column, [None] * len(s), dtype=DTYPES[kind]), none
    if dt == pl.String:
        s = s.str.strip_chars(PY_WHITESPACE)
        s = pl.select(pl.when(s.str.len_bytes() > 0).then(s)).to_series()
        if kind == "str":
            return s.alias(column), none
        if kind == "int":
            ok = s.str.contains(r"^-?[0-9]+$")
            typed = pl.select(pl.when(ok).then(s.cast(pl.Int64, strict=False))).to_series()
            return typed.alias(column), (s.is_not_null() & typed.is_null()).alias(column)
        if kind == "bool":
            low = s.str.to_lowercase()
            typed = pl.select(
                pl.when(low.is_in(list(_TRUE))).then(True).when(low.is_in(list(_FALSE))).then(False)
            ).to_series()
            return typed.alias(column), (s.is_not_null() & typed.is_null()).alias(column)
        return _cast_values(s.to_list(), kind, column)  # float and date-time text: Python's own parsers
    if dt == pl.Boolean:
        if kind == "bool":
            return s.alias(column), none
        return pl.Series(column, [None] * len(s), dtype=DTYPES[kind]), s.is_not_null().alias(column)
    if dt.is_integer():
        if kind == "int":
            return s.cast(pl.Int64).alias(column), none
        if kind == "float":
            return s.cast(pl.Float64).alias(column), none
        if kind == "str":
            text = s.cast(pl.String)
            if column in ZERO_PADDED:
                text = text.str.zfill(ZERO_PADDED[column])
            return text.alias(column), none
        if kind == "bool":
            typed = pl.select(pl.when(s == 1).then(True).when(s == 0).then(False)).to_series()
            return typed.alias(column), (s.is_not_null() & typed.is_null()).alias(column)
    if dt.is_float():
        s = s.fill_nan(None)
        if kind == "float":
            return s.cast(pl.Float64).alias(column), none
        whole = s == s.floor()
        if (
            kind in ("int", "str")
            and bool(whole.fill_null(True).all())
            and bool((s.abs().fill_null(0) < 2**63).all())
        ):
            return cast_column(s.cast(pl.Int64), kind, column)
        return _cast_values(s.to_list(), kind, column)
    if isinstance(dt, pl.Decimal):  # a numeric column: whole values are integers (1999.00 minor units)
        if kind == "float":
            return s.cast(pl.Float64).alias(column), none
        as_int = s.cast(pl.Int64, strict=False)
        if as_int.null_count() == s.null_count() and bool((as_int.cast(dt) == s).fill_null(True).all()):
            return cast_column(as_int, kind, column)
        return _cast_values(s.to_list(), kind, column)
    if isinstance(dt, pl.Datetime) and kind == "datetime":
        if dt.time_zone is None:
            s = s.dt.replace_time_zone("UTC")
        return s.dt.convert_time_zone("UTC").dt.cast_time_unit("us").alias(column), none
    if dt == pl.Date and kind == "datetime":
        return s.cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias(column), none
    return _cast_values(s.to_list(), kind, column)

