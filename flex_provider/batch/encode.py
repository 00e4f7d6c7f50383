"""
Build the /evaluate and /transmit JSON rows (and transmit CSV rows) a whole column at a time, in polars.

A chunk's rows become one polars struct in the model's field order (an object with no field given is
null), written by ``struct.json_encode`` in one vectorised pass; the ``null`` fields are then cut out
with two Aho-Corasick passes (``str.replace_many`` of ``,"key":null`` and ``{"key":null,``), which is
what the model's ``exclude_none`` dump leaves out. Values are written as pydantic writes them
(``"2026-11-24T06:00:00Z"``, ``true``, text escaped as ``json.dumps(ensure_ascii=False)`` does), so a
row is byte for byte the per-row writer's (``tests/batch/test_identity.py``).

polars rather than pyarrow, by measurement (100,000 rows of the ship bench, one chunk): pyarrow has no
JSON writer; polars ``struct.json_encode`` took 0.28 s against 1.15 s for one ``concat_str`` of
``"key":value`` texts per field and 3.5 s for ``json.dumps`` of dicts (0.70 s for 20,000).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import polars as pl

from flex_provider.batch.columns import Field, Kind, layout
from flex_provider.idempotency import FLEX_NAMESPACE

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_string(name: str) -> pl.Expr:
    """A text column as JSON strings (``json.dumps(..., ensure_ascii=False)``) when it has no control character."""
    col = pl.col(name).str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
    return pl.lit('"') + col + pl.lit('"')


def _python_floats(values: pl.Series) -> pl.Series:
    """Floats as Python (``json.dumps``) writes them: ``5.5``, ``-3.0``, ``1e-05``."""
    return pl.Series([None if v is None else _DUMPS(v) for v in values.to_list()], dtype=pl.String)


def _csv_value(name: str, typ: str, frame: pl.DataFrame) -> pl.Expr:
    """One typed number or boolean column of ``frame`` as CSV text (null where not given)."""
    col = pl.col(name)
    if typ == "int":
        return col.cast(pl.String)
    if typ == "bool":
        return pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false"))
    if typ == "float":
        return pl.lit(_python_floats(frame[name]))
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
    """The fields the writer sets (wire path -> value): the merchant, ``isDeclined``, the key, ``token``."""
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
    then the nulls are cut out (``exclude_none``). A float (``timezoneUtcOffset``) goes in as Python's
    float text (what ``json.dumps`` writes, as the per-row writer did) and loses its quotes after.

    :param frame: the typed columns of the rows to write (canonical names) and ``key``, their
        idempotency keys.
    """
    lay = layout(kind)
    frame = _with_defaults(kind, frame)
    constants = _constants(kind, mid)
    empty = {c for c in frame.columns if frame[c].null_count() == frame.height}
    floats = [f for f in lay.fields if f.type == "float" and f.column not in empty]
    frame = frame.with_columns([_python_floats(frame[f.column]).alias(f.column) for f in floats])

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
    for f in floats:  # a number, not a text: no quotes (its text never holds a quote)
        key = _DUMPS(f.path[-1])
        text = text.str.replace_all(f'{key}:"([^"]*)"', f"{key}:${{1}}")
    return frame.select(text.str.slice(1).alias("body")).to_series()


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
                expr = _csv_value(f.column, f.type, frame)
        out.append(expr.cast(pl.String).alias(name))
    return frame.select(out)
