"""
Result files read column-wise: blocks of rows as Arrow tables, the same values the ``ResultRow`` model
gives, at a fraction of the cost (a million-row file is parsed in C++, not row by row in Python).

The columns are derived from :class:`~flex_provider.models.batch.ResultRow` (the one description of a
row): each field's wire name, type, whether it is required and its allowed values. A block of lines is
read by ``pyarrow.json`` with that schema and checked (required values present, ``status`` one of the
model's values, times in the canonical ISO form with a UTC zone). Anything else (a value of another type
that pydantic's lax mode might still accept, a snake_case key, an odd layout line) sends that block
through the model row by row instead, with the same errors as :func:`~flex_provider.batch.outbound.
iter_result_file`. ``tests/unit/batch/test_result_columns.py`` proves both paths give equal values.
"""

from __future__ import annotations

import io
import types
import typing
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from flex_provider.models.batch import ResultHeader, ResultRow

#: Lines per block (~100 bytes a row: a few MB a block, so memory stays flat).
BLOCK_LINES = 50_000
#: Times the column path parses itself; others (offsets, dates without a zone, numbers) go to the model.
_ISO_UTC = r"^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|\+00:00)$"
TIME_TYPE = pa.timestamp("us", tz="UTC")


class Field(typing.NamedTuple):
    """One column of the model: python name, wire name, Arrow type, required, allowed values, lengths."""

    name: str
    alias: str
    arrow: pa.DataType
    required: bool
    values: tuple[str, ...] | None
    min_length: int
    max_length: int | None


def _columns(model: type[Any]) -> tuple[Field, ...]:
    """The model's fields as columns; raises on a type this reader does not know (so it cannot drift)."""
    out = []
    for name, info in model.model_fields.items():
        kinds = [a for a in typing.get_args(info.annotation) if a is not type(None)] or [info.annotation]
        if typing.get_origin(info.annotation) not in (typing.Union, types.UnionType, None, typing.Literal):
            raise TypeError(f"{model.__name__}.{name}: unsupported annotation {info.annotation!r}")
        if typing.get_origin(info.annotation) is typing.Literal:
            kinds = [info.annotation]
        if len(kinds) != 1:
            raise TypeError(f"{model.__name__}.{name}: unsupported annotation {info.annotation!r}")
        kind, values = kinds[0], None
        if typing.get_origin(kind) is typing.Literal:
            values = tuple(str(v) for v in typing.get_args(kind))
            arrow = pa.string()
        elif kind is str:
            arrow = pa.string()
        elif kind is int:
            arrow = pa.int64()
        elif kind is datetime:
            arrow = pa.string()  # parsed and checked after reading, see _ISO_UTC
        else:
            raise TypeError(f"{model.__name__}.{name}: unsupported type {kind!r}")
        min_length = max([getattr(m, "min_length", 0) or 0 for m in info.metadata] or [0])
        max_length = min([m.max_length for m in info.metadata if getattr(m, "max_length", None)] or [None])
        out.append(Field(name, info.alias or name, arrow, info.is_required(), values, min_length, max_length))
    return tuple(out)


def _time_fields() -> frozenset[str]:
    return frozenset(
        n
        for n, i in ResultRow.model_fields.items()
        if datetime in (typing.get_args(i.annotation) or (i.annotation,))
    )


FIELDS = _columns(ResultRow)
TIME_FIELDS = _time_fields()
#: The Arrow schema of a block (python names; times as aware UTC microseconds).
BLOCK_SCHEMA = pa.schema([(f.name, TIME_TYPE if f.name in TIME_FIELDS else f.arrow) for f in FIELDS])
#: What pyarrow reads: the wire names, plus the python names (``populate_by_name``), which must be absent.
_READ_SCHEMA = pa.schema(
    [(f.alias, f.arrow) for f in FIELDS] + [(f.name, f.arrow) for f in FIELDS if f.name != f.alias]
)
_PARSE = pj.ParseOptions(explicit_schema=_READ_SCHEMA, unexpected_field_behavior="ignore")


class _Slow(Exception):
    """This block is not plain enough for the column path: read it through the model."""


def _all(mask: Any) -> bool:
    return bool(pc.all(mask).as_py() is not False)


def fast_block(body: bytes, lines: int) -> pa.Table:
    """``lines`` rows, one JSON object a line, as a block, or raise :class:`_Slow`."""
    try:
        raw = pj.read_json(io.BytesIO(body), parse_options=_PARSE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise _Slow from exc
    if raw.num_rows != lines:
        raise _Slow
    columns = {}
    for f in FIELDS:
        if f.name != f.alias and raw.column(f.name).null_count != raw.num_rows:
            raise _Slow  # a snake_case key: the model's rules for it decide
        col = raw.column(f.alias)
        if f.required and col.null_count:
            raise _Slow
        if f.values is not None and not _all(pc.is_in(col, value_set=pa.array(f.values))):
            raise _Slow
        if f.min_length and not _all(pc.greater_equal(pc.utf8_length(col), f.min_length)):
            raise _Slow
        if f.max_length is not None and not _all(pc.less_equal(pc.utf8_length(col), f.max_length)):
            raise _Slow  # too long for the ledger: the model names the field
        if f.name in TIME_FIELDS:
            if not _all(pc.match_substring_regex(col, _ISO_UTC)):
                raise _Slow
            try:
                col = pc.cast(col, TIME_TYPE)
            except pa.ArrowInvalid as exc:  # 30 February: the model says why
                raise _Slow from exc
        columns[f.name] = col
    return pa.table(columns, schema=BLOCK_SCHEMA)


def rows_to_block(rows: list[ResultRow]) -> pa.Table:
    """Validated rows as a block (times aware UTC, as the ledger stores them)."""
    from flex_provider.ledger.schema import utc

    data: dict[str, list[Any]] = {f.name: [] for f in FIELDS}
    for row in rows:
        for f in FIELDS:
            value = getattr(row, f.name)
            data[f.name].append(utc(value) if f.name in TIME_FIELDS else value)
    return pa.table(data, schema=BLOCK_SCHEMA)


def iter_result_blocks(
    path: str | Path, block_lines: int | None = None
) -> tuple[ResultHeader, Iterator[pa.Table]]:
    """
    The envelope and a lazy iterator of blocks of a result file. The iterator raises
    ``MalformedOutboundFile`` for exactly the files :func:`~flex_provider.batch.outbound.iter_result_file`
    rejects, with the same reason.
    """
    from flex_provider.batch.outbound import iter_result_file

    block_lines = block_lines or BLOCK_LINES
    path = Path(path)
    header, model_rows = iter_result_file(path)  # the envelope, checked by the model
    with path.open("rb") as fh:
        streamed = fh.readline().rstrip(b"\r\n").endswith(b'"rows":[')
    if not streamed:  # one JSON document: the model path reads it whole anyway
        return header, _document_blocks(path.name, model_rows, block_lines)
    return header, _blocks(path, header, block_lines)


def _blocks(path: Path, header: ResultHeader, block_lines: int) -> Iterator[pa.Table]:
    from flex_provider.batch.outbound import MalformedOutboundFile, check_row_count

    state = _State(path.name)
    with path.open("rb") as fh:
        fh.readline()
        while chunk := fh.read(block_lines * 100) + fh.readline():
            lines = chunk.count(b"\n") + (not chunk.endswith(b"\n"))
            block = None if state.closed else _fast_chunk(chunk, lines)
            if block is None:
                block = state.model_block(chunk)
            else:
                state.number += lines
                state.count += block.num_rows
                state.closed = chunk.rstrip().endswith(b"\n]}") or chunk.strip() == b"]}"
            if block.num_rows:
                yield block
    if not state.closed:
        raise MalformedOutboundFile(path.name, "truncated: no closing ']}'")
    check_row_count(path.name, header, state.count)


def _fast_chunk(chunk: bytes, lines: int) -> pa.Table | None:
    """
    A chunk of whole lines as a block when every line is one row (``{...}`` or ``{...},``), the last
    possibly the closing ``]}``; None when anything is unusual (blank lines, ``\\r``, spaces, a row and
    the closing on one line, values the model must judge): the model reads that chunk.
    """
    body = chunk.rstrip(b"\n")
    if b"\r" in body:
        return None
    if body == b"]}":
        return pa.table({f.name: [] for f in FIELDS}, schema=BLOCK_SCHEMA)
    if body.endswith(b"\n]}"):
        body, lines = body[:-3], lines - 1
    body = body.replace(b"},\n", b"}\n")
    body = body[:-1] if body.endswith(b"},") else body
    if not body.startswith(b"{") or body.count(b"\n{") != lines - 1 or body.count(b"}\n") != lines - 1:
        return None
    if not body.endswith(b"}"):
        return None
    try:
        return fast_block(body, lines)
    except _Slow:
        return None


class _State:
    """Where the reading is: last line number, rows so far, closing seen."""

    def __init__(self, name: str) -> None:
        self.name, self.number, self.count, self.closed = name, 1, 0, False

    def model_block(self, chunk: bytes) -> pa.Table:
        """These lines through the line reader and the model (its errors, its lax rules)."""
        from flex_provider.batch.outbound import MalformedOutboundFile, line_row, validated_row

        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedOutboundFile(self.name, "not UTF-8 text") from None
        rows = []
        for line in io.StringIO(text, newline=None):  # universal newlines, as the text reader
            self.number += 1
            has_row, row, self.closed = line_row(self.name, self.number, line, self.closed)
            if has_row:
                self.count += 1
                rows.append(validated_row(self.name, ResultRow, row, self.count, self.number))
                if not _fits(rows[-1]):
                    where = f"bad row {self.count} (line {self.number})"
                    raise MalformedOutboundFile(self.name, f"{where}: amount: beyond 64 bits")
        return rows_to_block(rows)


def _fits(row: ResultRow) -> bool:
    """The model takes any integer; the ledger's columns hold 64 bits."""
    return all(
        getattr(row, f.name) is None or -(2**63) <= getattr(row, f.name) < 2**63
        for f in FIELDS
        if f.arrow == pa.int64()
    )


def _document_blocks(name: str, rows: Iterator[ResultRow], size: int) -> Iterator[pa.Table]:
    from flex_provider.batch.outbound import MalformedOutboundFile

    chunk: list[ResultRow] = []
    for count, row in enumerate(rows, start=1):
        if not _fits(row):
            raise MalformedOutboundFile(name, f"bad row {count}: amount: beyond 64 bits")
        chunk.append(row)
        if len(chunk) >= size:
            yield rows_to_block(chunk)
            chunk = []
    if chunk:
        yield rows_to_block(chunk)
