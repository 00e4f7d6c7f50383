"""
Whole-column checks of one chunk: card numbers, the model's field rules, and the business rules.

The field rules (required, type, length, range, pattern) come from the request model through
:func:`flex_provider.batch.columns.layout`; the business rules the schema cannot say are added here:
``amount_cents`` above zero, currencies that are active ISO 4217 codes (:mod:`flex_provider.money`), a
card token on every decline, an expiry in the future. The PAN scan is one vectorised regex a column
(13 digits with single spaces or dashes between them), with :func:`looks_like_pan` (Luhn, GUIDs aside)
only on the values it flags. Each row gets the reason of its first problem (:mod:`.reasons`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from flex_provider.batch.coerce import DTYPES, Chunk, CoercionError, _plain, cast_column, coerce_value
from flex_provider.batch.columns import (
    CONTROL_COLUMNS,
    CURRENCY_COLUMNS,
    Kind,
    Layout,
    canonical,
    layout,
)
from flex_provider.batch.reasons import field_reason
from flex_provider.money import ISO_4217_CURRENCIES
from flex_provider.pci import looks_like_pan, mask_pans

#: A card number has 13+ digits with at most one space or dash between two of them (prefilter only).
_PAN_RUN = r"\d(?:[ -]?\d){12}"
_PAN_INT_FLOOR = 10**12
_ISO = sorted(ISO_4217_CURRENCIES)


@dataclass
class Checked:
    """The outcome of one chunk: per row the reason (null = good) and column; typed body columns."""

    reason: pl.Series
    field: pl.Series
    order_id: pl.Series  # as the rejects file may show it (null when it looked like a card number)
    typed: dict[str, pl.Series]  # canonical column -> typed values, for the encoder
    unknown: list[str]  # columns that feed no body field (ignored, but scanned for card numbers)


def _pan_value(value: Any) -> bool:
    value = _plain(value)
    if value is None or isinstance(value, (bool, datetime)):
        return False
    if isinstance(value, int):
        return value >= _PAN_INT_FLOOR and looks_like_pan(value)
    if isinstance(value, float):
        if math.isnan(value) or abs(value) < _PAN_INT_FLOOR:
            return False
        return looks_like_pan(int(value) if value.is_integer() and abs(value) < 1e19 else value)
    return looks_like_pan(value)


def pan_mask(raw: pl.Series | list[Any]) -> pl.Series:
    """True where a source value looks like a card number: regex on the column, Luhn on its hits only."""
    if isinstance(raw, list):
        return pl.Series([_pan_value(v) for v in raw], dtype=pl.Boolean)
    dt = raw.dtype
    if dt == pl.String:
        hit = raw.str.contains(_PAN_RUN).fill_null(False)
    elif dt in (pl.Int64, pl.UInt64):
        hit = (raw >= _PAN_INT_FLOOR).fill_null(False)
    elif dt.is_integer():  # 32 bits or fewer: never 13 digits
        hit = None
    elif dt.is_float():
        hit = (raw.abs() >= _PAN_INT_FLOOR).fill_null(False)
    elif dt in (pl.Boolean, pl.Null, pl.Date) or isinstance(dt, pl.Datetime):
        hit = None
    else:
        return pl.Series([_pan_value(v) for v in raw.to_list()], dtype=pl.Boolean)
    out = [False] * len(raw)
    if hit is not None and hit.any():
        for i in hit.arg_true().to_list():
            out[i] = _pan_value(raw[i])
    return pl.Series(out, dtype=pl.Boolean)


def _when_first(conditions: list[tuple[pl.Series, str]], n: int) -> pl.Series:
    """Per row, the text of the first true condition (null when none)."""
    live = [(cond, text) for cond, text in conditions if cond.any()]
    if not live:
        return pl.Series([None] * n, dtype=pl.String)
    return pl.select(
        pl.coalesce([pl.when(cond).then(pl.lit(text, dtype=pl.String)) for cond, text in live])
    ).to_series()


def check_chunk(
    chunk: Chunk,
    *,
    kind: Kind,
    mid: str,
    default_expiry: datetime | None,
    now: datetime,
) -> Checked:
    """Cast and check every column of ``chunk``; the reasons follow :mod:`flex_provider.batch.reasons`."""
    lay: Layout = layout(kind)
    n = chunk.rows
    given: dict[str, str] = {}  # canonical -> column name as given (the last one wins, as in a dict)
    unknown: list[str] = []
    for name in chunk.columns:
        base = canonical(name)
        if lay.field(base) is not None:
            given[base] = name
        elif name not in CONTROL_COLUMNS:
            unknown.append(name)
    rules: list[tuple[pl.Expr, str, str]] = []  # (condition, reason, column): the first true one wins
    masks: dict[str, pl.Series] = {}  # per-column masks computed outside polars expressions
    # 1. card numbers, in any column (known or not), in source order
    pans = {name: pan_mask(raw) for name, raw in chunk.columns.items()}
    for i, (name, mask) in enumerate(pans.items()):
        if mask.any():
            shown = mask_pans(str(name))
            masks[f"__pan{i}"] = mask
            rules.append((pl.col(f"__pan{i}"), f"pan_detected:{shown}", shown))
    # 2. the batch's merchant
    if "mid" in chunk.columns:
        typed_mid, bad_mid = cast_column(chunk.raw("mid"), "str", "mid")
        masks["__mid"] = (bad_mid | (typed_mid.is_not_null() & (typed_mid != mid))).fill_null(False)
        rules.append((pl.col("__mid"), "mid_mismatch", "mid"))
    # 3. the model's fields, in model order, each with its business rules
    typed: dict[str, pl.Series] = {}
    for f in lay.fields:
        name = given.get(f.column, f.column)
        col = pl.col(f.column)
        if f.column in given:
            values, bad = cast_column(chunk.raw(name), f.type, f.column)
            if bad.any():
                masks[f"__bad_{f.column}"] = bad
                rules.append((pl.col(f"__bad_{f.column}"), field_reason(name, "type"), name))
        else:
            values = pl.repeat(None, n, dtype=DTYPES[f.type], eager=True).alias(f.column)
        typed[f.column] = values
        checks: list[tuple[pl.Expr, str]] = []
        if f.required:
            checks.append((col.is_null(), "missing"))
        if f.type == "str":
            if f.min_length is not None:
                checks.append((col.str.len_chars() < f.min_length, "too_short"))
            if f.max_length is not None:
                checks.append((col.str.len_chars() > f.max_length, "too_long"))
            if f.pattern is not None:
                checks.append((~col.str.contains(f.pattern), "pattern"))
        if f.ge is not None:
            checks.append((col < f.ge, "range"))
        if f.gt is not None:
            checks.append((col <= f.gt, "range"))
        if f.le is not None:
            checks.append((col > f.le, "range"))
        rules += [(cond, field_reason(name, problem), name) for cond, problem in checks]
        # business rules
        if f.column == "amount_cents":
            rules.append((col <= 0, "invalid_amount", name))
        if f.column in CURRENCY_COLUMNS:
            rules.append((~col.is_in(_ISO), "invalid_currency", name))
        if f.column == "card_token" and kind == "evaluate":
            rules.append((col.is_null(), "missing_card_token", name))
        if f.column == "expiry_date_utc":
            effective = col if default_expiry is None else col.fill_null(default_expiry)
            rules.append((effective <= now, "expiry_in_past", name))
    # every condition in one pass; only the ones true somewhere take part in the reason
    frame = pl.DataFrame([*typed.values(), *(m.alias(k) for k, m in masks.items())])
    hits = frame.select([cond.fill_null(False).alias(f"r{i}") for i, (cond, _r, _c) in enumerate(rules)])
    live = [
        (hits[f"r{i}"], reason, column)
        for i, (_cond, reason, column) in enumerate(rules)
        if hits[f"r{i}"].any()
    ]
    reason = _when_first([(c, r) for c, r, _ in live], n)
    field = _when_first([(c, col) for c, _, col in live], n)
    order_id = typed["order_id"]
    if "order_id" in given:
        order_id = pl.select(pl.when(~pans[given["order_id"]]).then(order_id)).to_series()
    return Checked(reason, field, order_id, typed, unknown)


def safe_order_id(value: Any) -> str | None:
    """One order id as the rejects file may show it (never a card number); for the per-row path."""
    if _pan_value(value):
        return None
    try:
        return coerce_value(value, "str")
    except CoercionError:
        return None
