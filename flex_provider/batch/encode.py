"""
Build the /evaluate and /transmit JSON rows (and transmit CSV rows) a whole column at a time, in polars.

Each field becomes a ``"key":value`` text column that is null where the value is not given; one
``concat_str(..., ignore_nulls=True)`` per object then leaves absent fields out, exactly as the model's
``exclude_none`` dump does, and an object with no field given is left out too. Keys come in the model's
order, values are written as pydantic writes them (``"2026-11-24T06:00:00Z"``, ``true``), so a row is
byte for byte what ``EvaluateRequest.model_dump_json(by_alias=True, exclude_none=True)`` gives.

polars rather than pyarrow: ``struct.json_encode`` (polars) and pyarrow's JSON writers print nulls as
``null``, where the file format leaves them out; ``concat_str`` with ``ignore_nulls`` is one vectorised
pass that does (measured in docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import polars as pl

from flex_provider.batch.columns import Field, Kind, layout
from flex_provider.idempotency import FLEX_NAMESPACE

_CONTROL = r"[\x00-\x1f]"
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_text(values: pl.Series) -> pl.Series:
    """Text values as JSON strings (``json.dumps(..., ensure_ascii=False)``), nulls stay null."""
    fast = values.str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
    out = pl.select(pl.lit('"') + fast + pl.lit('"')).to_series()
    odd = values.str.contains(_CONTROL).fill_null(False)
    if odd.any():
        rows = odd.arg_true().to_list()
        out = out.scatter(rows, [_DUMPS(values[i]) for i in rows])
    return out


def json_value(values: pl.Series, typ: str) -> pl.Series:
    """One typed column as JSON values (text, null where not given)."""
    if typ == "str":
        return json_text(values)
    if typ == "int":
        return values.cast(pl.String)
    if typ == "bool":
        return pl.select(pl.when(values).then(pl.lit("true")).when(~values).then(pl.lit("false"))).to_series()
    if typ == "datetime":
        return pl.select(pl.lit('"') + wire_datetime(values) + pl.lit('"')).to_series()
    if typ == "float":  # Python's own float text, as json.dumps (and pydantic) write it
        return pl.Series([None if v is None else _DUMPS(v) for v in values.to_list()], dtype=pl.String)
    raise AssertionError(typ)  # pragma: no cover


def wire_datetime(values: pl.Series) -> pl.Series:
    """UTC date-times as pydantic writes them: ``2026-11-24T06:00:00Z``, microseconds only when not zero."""
    base = values.dt.strftime("%Y-%m-%dT%H:%M:%S")
    micro = values.dt.microsecond()
    frac = pl.select(
        pl.when(micro != 0).then(pl.lit(".") + micro.cast(pl.String).str.zfill(6)).otherwise(pl.lit(""))
    ).to_series()
    return pl.select(base + frac + pl.lit("Z")).to_series()


def iso_datetime(values: pl.Series) -> pl.Series:
    """UTC date-times as ``datetime.isoformat()`` writes them (``...T00:00:00+00:00``): the ledger sidecar."""
    micro = values.dt.microsecond()
    frac = pl.select(
        pl.when(micro != 0).then(pl.lit(".") + micro.cast(pl.String).str.zfill(6)).otherwise(pl.lit(""))
    ).to_series()
    return pl.select(values.dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + pl.lit("+00:00")).to_series()


def idempotency_keys(mid: str, order_ids: list[str], kind: Kind) -> list[str]:
    """``idempotency_key(mid, order_id, kind)`` (uuid5) for each order id."""
    prefix = FLEX_NAMESPACE.bytes + f"{mid}:".encode()
    suffix = f":{kind}".encode()
    out = []
    for order_id in order_ids:
        raw = bytearray(hashlib.sha1(prefix + order_id.encode() + suffix, usedforsecurity=False).digest()[:16])
        raw[6] = (raw[6] & 0x0F) | 0x50
        raw[8] = (raw[8] & 0x3F) | 0x80
        h = raw.hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def _fill_defaults(kind: Kind, typed: dict[str, pl.Series]) -> dict[str, pl.Series]:
    if kind == "evaluate":  # a decline of this exchange is an MIT of a subscription unless said otherwise
        typed = {**typed, "is_mit": typed["is_mit"].fill_null(True), "is_recurring": typed["is_recurring"].fill_null(True)}
    return typed


def json_rows(kind: Kind, mid: str, typed: dict[str, pl.Series], keys: list[str]) -> pl.Series:
    """
    The body of each row without its braces and ``sequenceNumber`` (``"mid":...,"orderId":...``).

    :param typed: canonical column -> typed values of the rows to write (all of the same length).
    :param keys: the rows' idempotency keys.
    """
    lay = layout(kind)
    typed = _fill_defaults(kind, typed)
    n = len(keys)
    constants = {
        ("mid",): json_text(pl.Series([mid])).item(),
        ("isDeclined",): "true" if kind == "evaluate" else "false",
    }
    key_json = json_text(pl.Series(keys, dtype=pl.String))

    def obj(entries: tuple[tuple[str, Any], ...], prefix: tuple[str, ...]) -> pl.Series:
        parts: list[pl.Series] = []
        for key, spec in entries:
            path = (*prefix, key)
            head = _DUMPS(key) + ":"
            if isinstance(spec, Field):
                value = json_value(typed[spec.column], spec.type)
            elif isinstance(spec, tuple):
                inner = obj(spec, path)
                value = pl.select(pl.when(inner != "").then(pl.lit("{") + inner + pl.lit("}"))).to_series()
            elif path in constants:
                value = pl.Series([constants[path]] * n, dtype=pl.String)
            elif path == ("idempotencyKey",):
                value = key_json
            elif path == ("paymentMethod", "token"):
                value = pl.select(pl.when(typed["card_token"].is_not_null()).then(pl.lit("true"))).to_series()
            else:
                continue  # never from a source column (sequenceNumber is numbered per file)
            if value.null_count() == n:
                continue
            parts.append(pl.select(pl.lit(head) + value).to_series())
        if not parts:
            return pl.Series([""] * n, dtype=pl.String)
        return pl.select(pl.concat_str(parts, separator=",", ignore_nulls=True)).to_series()

    return obj(lay.keys, ())


def csv_frame(kind: Kind, mid: str, typed: dict[str, pl.Series], keys: list[str], columns: tuple[str, ...]) -> pl.DataFrame:
    """The transmit CSV columns (text, null = empty) of the rows to write, without ``sequenceNumber``."""
    lay = layout(kind)
    typed = _fill_defaults(kind, typed)
    n = len(keys)
    out: dict[str, pl.Series] = {}
    by_path = {".".join(f.path): f for f in lay.fields}
    for name in columns[1:]:
        if name == "mid":
            out[name] = pl.Series([mid] * n, dtype=pl.String)
        elif name == "isDeclined":
            out[name] = pl.Series(["true" if kind == "evaluate" else "false"] * n, dtype=pl.String)
        elif name == "idempotencyKey":
            out[name] = pl.Series(keys, dtype=pl.String)
        elif name == "paymentMethod.token":
            out[name] = pl.select(pl.when(typed["card_token"].is_not_null()).then(pl.lit("true"))).to_series()
        else:
            f = by_path[name]
            values = typed[f.column]
            if f.type == "datetime":
                out[name] = wire_datetime(values)
            elif f.type == "str":
                out[name] = values
            else:
                out[name] = json_value(values, f.type)
    return pl.DataFrame({k: v.alias(k) for k, v in out.items()})
