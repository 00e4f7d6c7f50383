"""
``COPY ... FROM STDIN`` into PostgreSQL through a SQLAlchemy connection's own driver, streamed.

The ledger and the merchant DB load staging tables this way: one COPY instead of an ``executemany``
that SQLAlchemy sends row by row. Both drivers an Airflow ``postgres`` connection may bring are served:
psycopg 3 (``cursor.copy``) and psycopg2 (``copy_expert`` reading a file-like object that pulls the
chunks as the server asks, so neither holds more than one chunk). Every function returns a "not done"
value, with nothing consumed, when the dialect or driver has no COPY (SQLite): callers then insert.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Connection

#: Bytes a text-format chunk holds before it is handed to the driver.
_TEXT_CHUNK = 1 << 20


def copy_text(value: Any) -> str:
    """One value in PostgreSQL COPY text format (``\\N`` for NULL, the four escapes)."""
    if value is None:
        return "\\N"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _raw_cursor(conn: Connection) -> Any | None:
    """The DB-API cursor under ``conn`` when it is PostgreSQL, else None."""
    if conn.dialect.name != "postgresql":
        return None
    raw = conn.connection.dbapi_connection
    return None if raw is None else raw.cursor()


def copy_chunks(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    chunks: Iterable[bytes],
    *,
    csv: bool = True,
    prefetch: int = 0,
) -> bool:
    """
    ``COPY table (columns) FROM STDIN`` of byte chunks (CSV without header, an empty field NULL; or
    ``csv=False``: text format). False (nothing consumed) without COPY.

    An exception raised while producing a chunk (a malformed input row) is re-raised as itself, not
    as the driver's wrapper around it. ``prefetch``: build that many chunks ahead in a thread, so the
    Python work of the next chunk overlaps the server storing this one (for producers that touch no
    database connection).
    """
    cur = _raw_cursor(conn)
    if cur is None:
        return False
    if prefetch:
        from flex_provider.prefetch import prefetched

        chunks = prefetched(chunks, prefetch, name="flex-copy")
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN" + (" (FORMAT csv)" if csv else "")
    try:
        if hasattr(cur, "copy"):  # psycopg 3
            with cur.copy(sql) as copy:
                for chunk in chunks:
                    copy.write(chunk)
            return True
        if hasattr(cur, "copy_expert"):  # psycopg2
            reader = _ChunkReader(iter(chunks))
            try:
                cur.copy_expert(sql, reader)
            except Exception:
                if reader.error is not None:
                    raise reader.error from None
                raise
            return True
    finally:
        cur.close()
    return False


def copy_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int | None:
    """
    COPY Python rows (values in ``columns`` order) into ``table``; returns the row count, None
    (nothing consumed) without COPY.
    """
    cur = _raw_cursor(conn)
    if cur is None:
        return None
    if hasattr(cur, "copy"):  # psycopg 3 adapts each value itself
        total = 0
        try:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    total += 1
        finally:
            cur.close()
        return total
    cur.close()
    counted = [0]

    def text_chunks() -> Iterator[bytes]:
        buf: list[str] = []
        size = 0
        for row in rows:
            line = "\t".join(copy_text(v) for v in row) + "\n"
            buf.append(line)
            size += len(line)
            counted[0] += 1
            if size >= _TEXT_CHUNK:
                yield "".join(buf).encode("utf-8")
                buf, size = [], 0
        if buf:
            yield "".join(buf).encode("utf-8")

    if not copy_chunks(conn, table, columns, text_chunks(), csv=False):
        return None
    return counted[0]


class _ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (what psycopg2's ``copy_expert`` reads)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._rest, self._at = chunks, memoryview(b""), 0
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        while self._at >= len(self._rest):
            try:
                self._rest, self._at = memoryview(next(self._chunks)), 0
            except StopIteration:
                return b""
            except Exception as exc:
                self.error = exc
                raise
        end = len(self._rest) if size is None or size < 0 else self._at + size
        out = self._rest[self._at : end].tobytes()
        self._at += len(out)
        return out
