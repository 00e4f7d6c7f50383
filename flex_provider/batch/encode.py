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


def _escaped(name: str) -> pl.Expr:
    """A text column as JSON strings (``json.dumps(..., ensure_ascii=False)``) when it has no control character."""
    col = pl.col(name).str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
    return pl.lit('"') + col + pl.lit('"')


def json_text(values: pl.Series) -> pl.Series:
    """Text values as JSON strings (``json.dumps(..., ensure_ascii=False)``), nulls stay null."""
    out = pl.DataFrame({"v": values}).select(_escaped("v")).to_series()
    odd = values.str.contains(_CONTROL).fill_null(False)
    if odd.any():
        rows = odd.arg_true().to_list()
        out = out.scatter(rows, [_DUMPS(values[i]) for i in rows])
    return out


def _value(name: str, typ: str, frame: pl.DataFrame) -> pl.Expr:
    """One typed column of ``frame`` as JSON values (null where not given)."""
    col = pl.col(name)
    if typ == "str":
        if frame[name].str.contains(_CONTROL).any():  # rare: Python's own escaping for this column
            return pl.lit(json_text(frame[name]))
        return _escaped(name)
    if typ == "int":
        return col.cast(pl.String)
    if typ == "bool":
        return pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false"))
    if typ == "datetime":
        return pl.lit('"') + wire_datetime(col) + pl.lit('"')
    if typ == "float":  # Python's own float text, as json.dumps (and pydantic) write it
        return pl.lit(
            pl.Series([None if v is None else _DUMPS(v) for v in frame[name].to_list()], dtype=pl.String)
        )
    raise AssertionError(typ)  # pragma: no cover


def _fraction(col: pl.Expr) -> pl.Expr:
    micro = col.dt.microsecond()
    return pl.when(micro != 0).then(pl.lit(".") + micro.cast(pl.String).str.zfill(6)).otherwise(pl.lit(""))


def wire_datetime(col: pl.Expr) -> pl.Expr:
    """UTC date-times as pydantic writes them: ``2026-11-24T06:00:00Z``, microseconds only when not zero."""
    return col.dt.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(col) + pl.lit("Z")


def iso_datetime(col: pl.Expr) -> pl.Expr:
    """UTC date-times as ``datetime.isoformat()`` writes them (``...T00:00:00+00:00``): the ledger sidecar."""
    return col.dt.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(col) + pl.lit("+00:00")


_VARIANT = {f"{i:x}": "89ab"[i & 3] for i in range(16)}


def idempotency_keys(mid: str, order_ids: pl.Series, kind: Kind) -> pl.Series:
    """``idempotency_key(mid, order_id, kind)`` (uuid5 of the provider's namespace) for each order id."""
    prefix = FLEX_NAMESPACE.bytes + f"{mid}:".encode()
    suffix = f":{kind}".encode()
    sha1 = hashlib.sha1
    digests = pl.Series(
        [sha1(prefix + o.encode() + suffix, usedforsecurity=False).hexdigest() for o in order_ids.to_list()],
        dtype=pl.String,
    )
    h = pl.col("h")
    key = pl.concat_str(
        [
            h.str.slice(0, 8), pl.lit("-"), h.str.slice(8, 4), pl.lit("-5"), h.str.slice(13, 3), pl.lit("-"),
            h.str.slice(16, 1).replace_strict(_VARIANT), h.str.slice(17, 3), pl.lit("-"), h.str.slice(20, 12),
        ]
    )  # fmt: skip
    return pl.DataFrame({"h": digests}).select(key).to_series()


def _with_defaults(kind: Kind, frame: pl.DataFrame) -> pl.DataFrame:
    if kind == "evaluate":  # a decline of this exchange is an MIT of a subscription unless said otherwise
        return frame.with_columns(pl.col("is_mit").fill_null(True), pl.col("is_recurring").fill_null(True))
    return frame


def _constants(kind: Kind, mid: str) -> dict[tuple[str, ...], pl.Expr]:
    """The fields the writer sets, as (wire path -> JSON text) ..."""
    return {
        ("mid",): pl.lit(mid),
        ("isDeclined",): pl.lit(kind == "evaluate"),
        ("idempotencyKey",): pl.col("key"),
        ("paymentMethod", "token"): pl.when(pl.col("card_token").is_not_null()).then(pl.lit(True)),
    }


def _null_patterns(keys: tuple[tuple[str, Any], ...]) -> tuple[list[str], list[str]]:
    """
    The texts of a field written as ``null`` by ``struct.json_encode``: ``,"key":null`` (not first in
    its object), then ``{"key":null,`` (first; an object with no field given is null as a whole). Inside a JSON string every ``"``
    is escaped, so these texts are always structure, never part of a value.
    """
    after: set[str] = set()
    first: set[str] = set()

    def walk(entries: tuple[tuple[str, Any], ...]) -> None:
        for i, (key, spec) in enumerate(entries):
            if i == 0:
                first.add(f'{{"{key}":null,')
            after.add(f',"{key}":null')
            if isinstance(spec, tuple):
                walk(spec)
                # an object's first field given may follow null ones: each can be first after removal
                first.update(f'{{"{k}":null,' for k, _ in spec)

    walk(keys)
    return sorted(after), sorted(first)


def json_rows(kind: Kind, mid: str, frame: pl.DataFrame) -> pl.Series:
    """
    The body of each row without its opening brace and ``sequenceNumber`` (``"mid":...}``).

    One ``struct.json_encode`` of the body in model order (an object with no field given is null),
    then the nulls are cut out (``exclude_none``). A float field (``timezoneUtcOffset``) is written by
    Python's float text, as pydantic writes it, through :func:`json_rows_by_field` instead.

    :param frame: the typed columns of the rows to write (canonical names) and ``key``, their
        idempotency keys.
    """
    lay = layout(kind)
    if any(f.type == "float" and frame[f.column].null_count() < frame.height for f in lay.fields):
        return json_rows_by_field(kind, mid, frame)
    frame = _with_defaults(kind, frame)
    constants = _constants(kind, mid)
    empty = {c for c in frame.columns if frame[c].null_count() == frame.height}

    def obj(entries: tuple[tuple[str, Any], ...], prefix: tuple[str, ...]) -> tuple[pl.Expr, pl.Expr] | None:
        """(struct, "any field given") of one object, None when no field can be given."""
        fields: list[pl.Expr] = []
        given: list[pl.Expr] = []
        for key, spec in entries:
            path = (*prefix, key)
            if isinstance(spec, Field):
                if spec.column in empty:
                    continue
                col = pl.col(spec.column)
                value = wire_datetime(col) if spec.type == "datetime" else col
                given.append(col.is_not_null())
            elif isinstance(spec, tuple):
                inner = obj(spec, path)
                if inner is None:
                    continue
                value = pl.when(inner[1]).then(inner[0])
                given.append(inner[1])
            elif path in constants:
                value = constants[path]
            else:
                continue  # never from a source column (sequenceNumber is numbered per file)
            fields.append(value.alias(key))
        if not fields:
            return None
        return pl.struct(fields), pl.any_horizontal(given) if given else pl.lit(True)

    body = obj(lay.keys, ())
    assert body is not None  # mid is always there
    after, first = _null_patterns(lay.keys)
    text = body[0].struct.json_encode().str.replace_many(after, [""] * len(after))
    text = text.str.replace_many(first, ["{"] * len(first))
    return frame.select(text.str.slice(1).alias("body")).to_series()


def json_rows_by_field(kind: Kind, mid: str, frame: pl.DataFrame) -> pl.Series:
    """:func:`json_rows`, one ``"key":value`` text per field joined with ``concat_str`` (floats as Python writes them)."""
    lay = layout(kind)
    frame = _with_defaults(kind, frame)
    constants = {
        ("mid",): pl.lit(_DUMPS(mid)),
        ("isDeclined",): pl.lit("true" if kind == "evaluate" else "false"),
        ("idempotencyKey",): _escaped("key"),
        ("paymentMethod", "token"): pl.when(pl.col("card_token").is_not_null()).then(pl.lit("true")),
    }
    empty = {c for c in frame.columns if frame[c].null_count() == frame.height}

    def obj(entries: tuple[tuple[str, Any], ...], prefix: tuple[str, ...]) -> pl.Expr | None:
        parts: list[pl.Expr] = []
        for key, spec in entries:
            path = (*prefix, key)
            if isinstance(spec, Field):
                if spec.column in empty:
                    continue
                value = _value(spec.column, spec.type, frame)
            elif isinstance(spec, tuple):
                inner = obj(spec, path)
                if inner is None:
                    continue
                value = pl.when(inner != "").then(pl.lit("{") + inner + pl.lit("}"))
            elif path in constants:
                value = constants[path]
            else:
                continue
            parts.append(pl.lit(_DUMPS(key) + ":") + value)
        if not parts:
            return None
        return pl.concat_str(parts, separator=",", ignore_nulls=True)

    body = obj(lay.keys, ())
    assert body is not None
    return frame.select((body + pl.lit("}")).alias("body")).to_series()


def csv_frame(kind: Kind, mid: str, frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """The transmit CSV columns (text, null = empty) of the rows to write, without ``sequenceNumber``."""
    lay = layout(kind)
    frame = _with_defaults(kind, frame)
    by_path = {".".join(f.path): f for f in lay.fields}
    out: list[pl.Expr] = []
    for name in columns[1:]:
        if name == "mid":
            expr = pl.lit(mid)
        elif name == "isDeclined":
            expr = pl.lit("true" if kind == "evaluate" else "false")
        elif name == "idempotencyKey":
            expr = pl.col("key")
        elif name == "paymentMethod.token":
            expr = pl.when(pl.col("card_token").is_not_null()).then(pl.lit("true"))
        else:
            f = by_path[name]
            if f.type == "datetime":
                expr = wire_datetime(pl.col(f.column))
            elif f.type == "str":
                expr = pl.col(f.column)
            else:
                expr = _value(f.column, f.type, frame)
        out.append(expr.cast(pl.String).alias(name))
    return frame.select(out)
