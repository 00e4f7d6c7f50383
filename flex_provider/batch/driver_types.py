"""
Arrow columns as a database driver hands them over, made plain for the column checks.

ADBC's PostgreSQL driver returns some types as Arrow extension types, which polars would read as raw
bytes or not at all: ``uuid`` (an order id, often) as ``arrow.uuid`` (16 bytes), ``numeric`` as opaque
text, ``json``/``jsonb`` as ``arrow.json``, and types it does not decode (``inet``, ...) as opaque bytes.
:func:`plain_table` turns them into what the column checks read: a uuid into its canonical text, numeric
text into a decimal (so ``1999.00`` is a whole number of minor units), other text-backed types into their
text. A column that cannot be read as a value (opaque bytes, an ``interval``) raises
:class:`UnreadableColumnError` naming the cast to write in the SQL when the batch uses it, and is dropped
otherwise (it cannot hold the text a card number would need).
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

#: Largest precision of an Arrow decimal128.
_PRECISION = 38


class UnreadableColumnError(ValueError):
    """A source column of a type the writer cannot read; the message says which cast to add."""


def _typmod_scale(field: pa.Field) -> int | None:
    """The scale of a PostgreSQL ``numeric(p, s)`` column from the driver's field metadata."""
    raw = (field.metadata or {}).get(b"POSTGRESQL:typmod")
    try:
        typmod = int(raw) if raw is not None else -1
    except ValueError:
        return None
    return (typmod - 4) & 0xFFFF if typmod >= 4 else None


def _decimal(text: pa.Array | pa.ChunkedArray, scale: int | None) -> pa.Array | pa.ChunkedArray:
    """Decimal text as decimal128 (its declared scale, else the widest in the data); else the text."""
    if scale is None:
        fractions = pc.utf8_length(pc.replace_substring_regex(text, r"^[^.]*\.?", ""))
        scale = int(pc.max(fractions).as_py() or 0)
    if scale > _PRECISION:
        return text
    try:
        return pc.cast(text, pa.decimal128(_PRECISION, scale))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # NaN, Infinity, out of range: the checks say why
        return text


def _uuid_text(storage: pa.Array | pa.ChunkedArray) -> pa.Array:
    """16-byte uuids as ``8-4-4-4-12`` lowercase text."""
    hexed = pl.from_arrow(storage).bin.encode("hex")  # type: ignore[union-attr]
    parts = [hexed.str.slice(a, b - a) for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))]
    return pl.select(pl.concat_str(parts, separator="-")).to_series().to_arrow()


def plain_table(table: pa.Table | pa.RecordBatch, used: Collection[str]) -> pa.Table:
    """
    ``table`` with every driver-specific column made plain (see the module docstring).

    :param used: the column names the batch reads (source and control columns); an unreadable one
        among them raises, any other is dropped.
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    columns, names = [], []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        value: pa.Array | pa.ChunkedArray | None = column
        if isinstance(kind, pa.UuidType):
            value = _uuid_text(column.cast(kind.storage_type))
        elif isinstance(kind, pa.BaseExtensionType):
            storage = column.cast(kind.storage_type)
            name = getattr(kind, "type_name", kind.extension_name)
            if pa.types.is_string(kind.storage_type) or pa.types.is_large_string(kind.storage_type):
                value = _decimal(storage, _typmod_scale(field)) if name == "numeric" else storage
            else:
                value = None
        elif pa.types.is_interval(kind):  # polars reads no Arrow interval
            value = None
        if value is None:
            type_name = getattr(kind, "type_name", None) or str(kind)
            if field.name in used:
                raise UnreadableColumnError(
                    f"Column {field.name!r} has a type the batch writer cannot read ({type_name}); "
                    f"cast it in the extract SQL, e.g. {field.name}::text AS {field.name}"
                )
            continue
        columns.append(value)
        names.append(field.name)
    return pa.table(columns, names=names)
