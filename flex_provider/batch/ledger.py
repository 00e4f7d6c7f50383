"""
The batch ledger: which file holds which order, what Flex said about it, which outbound files were read.

SQLAlchemy Core on the engine of an Airflow SQL connection (``postgres`` or ``sqlite``), or on a plain
SQLAlchemy URL (:meth:`FlexLedger.from_url`). Tables are created on first use. Every write is a bulk
statement: rows go in batches (``executemany``), result files are applied through a staging temp table
and one ``UPDATE ... FROM`` per batch, so a million result rows cost a few hundred statements.

Status of a row (``flex_batch_rows.status``) only moves forward:

* ``SHIPPED`` (in a file we wrote/uploaded) -> ``SUBMITTED`` | ``REJECTED`` (ack file)
* ``SHIPPED`` | ``SUBMITTED`` | ``REJECTED`` -> ``APPROVED`` | ``EXPIRED`` | ``CANCELLED`` | ``REFUNDED``
* ``APPROVED`` -> ``CANCELLED`` | ``REFUNDED`` (a rescued order later voided or refunded)
* ``EXPIRED``, ``CANCELLED``, ``REFUNDED``: terminal, never changed again.

An ack never moves a row that already has a final status, and a second, conflicting final outcome
(``EXPIRED`` after ``APPROVED``) is ignored and counted. Transmit acks map ``SUCCESS`` to ``SUBMITTED``.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    any_,
    case,
    create_engine,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine

from flex_provider.batch import ack_name
from flex_provider.models.batch import AckFile, ResultFile, ResultRow

log = logging.getLogger(__name__)

BATCH_SIZE = 5000
_IN_CHUNK = 900  # bound parameters per IN (...) list; SQLite's old limit is 999

FILE_STATES = ("written", "uploaded", "acknowledged")
NON_FINAL = ("SHIPPED", "SUBMITTED", "REJECTED")
FINAL = ("APPROVED", "EXPIRED", "CANCELLED", "REFUNDED")
# new status -> statuses it may replace (see the module docstring)
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "APPROVED": NON_FINAL,
    "EXPIRED": NON_FINAL,
    "CANCELLED": (*NON_FINAL, "APPROVED"),
    "REFUNDED": (*NON_FINAL, "APPROVED"),
}

metadata = MetaData()
#: Advisory-lock key that serializes the ledger's table creation on PostgreSQL ("flexddl" in ASCII).
_DDL_LOCK_KEY = 0x666C6578_64646C

batch_files = Table(
    "flex_batch_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("business_date", Date, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("mid", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows_sha256", String(64), nullable=False),
    Column("uploaded_sha256", String(64)),
    Column("remote_size", Integer),
    Column("state", String(16), nullable=False),
    Column("ack_status", String(16)),
    Column("ack_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("uploaded_at", DateTime(timezone=True)),
    Column("acknowledged_at", DateTime(timezone=True)),
)

batch_rows = Table(
    "flex_batch_rows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mid", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("order_id", String(255), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("file_name", String(255), nullable=False, index=True),
    Column("sequence_number", Integer, nullable=False),
    Column("idempotency_key", String(64)),
    Column("expiry_date_utc", DateTime(timezone=True)),
    Column("order_session_key", String(64), index=True),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("confirmation_id", String(64)),
    Column("amount", Integer),
    Column("currency", String(3)),
    Column("result_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("mid", "kind", "order_id", name="uq_flex_batch_rows_order"),
)

outbound_files = Table(
    "flex_outbound_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("sha256", String(64)),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)

# Session-local staging table for result rows (one per connection, emptied per batch).
_staging_md = MetaData()
staging_results = Table(
    "flex_tmp_results",
    _staging_md,
    Column("order_id", String(255), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("order_session_key", String(64)),
    Column("confirmation_id", String(64)),
    Column("amount", Integer),
    Column("currency", String(3)),
    Column("result_at", DateTime(timezone=True)),
    prefixes=["TEMPORARY"],
)

staging_rows = Table(
    "flex_tmp_rows",
    _staging_md,
    Column("order_id", String(255), nullable=False),
    Column("sequence_number", Integer, nullable=False),
    Column("idempotency_key", String(64)),
    Column("expiry_date_utc", DateTime(timezone=True)),
    prefixes=["TEMPORARY"],
)

staging_acks = Table(
    "flex_tmp_acks",
    _staging_md,
    Column("order_id", String(255), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("order_session_key", String(64)),
    Column("error", Text),
    prefixes=["TEMPORARY"],
)

T = TypeVar("T")


def _copy_text(value: Any) -> str:
    """One value in PostgreSQL COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int | None:
    """
    COPY ``rows`` into ``table`` on PostgreSQL through the connection's driver; returns the row count.

    psycopg 3 (``postgresql+psycopg``, the engine of an Airflow ``postgres`` connection) streams rows with
    ``cursor.copy``; psycopg2 gets one COPY text buffer through ``copy_expert``. None when the dialect
    or driver has no COPY (SQLite): nothing was consumed then, use ``executemany``.
    """
    if conn.dialect.name != "postgresql":
        return None
    raw = conn.connection.dbapi_connection
    if raw is None:
        return None
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    total = 0
    cur = raw.cursor()
    try:
        if hasattr(cur, "copy"):  # psycopg 3
            with cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
                    total += 1
            return total
        if hasattr(cur, "copy_expert"):  # psycopg2
            buf = io.StringIO()
            for row in rows:
                buf.write("\t".join(_copy_text(v) for v in row))
                buf.write("\n")
                total += 1
            buf.seek(0)
            cur.copy_expert(sql, buf)
            return total
    finally:
        cur.close()
    return None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive values; they are stored as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_FILE_NUMBER = re.compile(r"_(\d{4,})\.[A-Za-z0-9]+$")
SHIPPED_STATES = ("uploaded", "acknowledged")


def file_number(name: str) -> int | None:
    """The ``NNNN`` of a batch file name (``..._<YYYYMMDD>_<NNNN>.json``), None when it has none."""
    m = _FILE_NUMBER.search(name)
    return int(m.group(1)) if m else None


class LedgerConflictError(ValueError):
    """A file name is recorded with other content than the file now being recorded."""


class FlexLedger:
    """
    Ledger of shipped batch files and rows, on an Airflow SQL connection.

    :param conn_id: Airflow connection id (conn_type ``postgres`` or ``sqlite``).
    :param engine: an existing engine instead (see :meth:`from_url`).
    """

    def __init__(self, conn_id: str | None = None, *, engine: Engine | None = None) -> None:
        if engine is None:
            if conn_id is None:
                raise ValueError("conn_id or engine is required")
            engine = self._engine_for_connection(conn_id)
        self.conn_id = conn_id
        self.engine = engine
        self._ready = False

    @classmethod
    def from_url(cls, url: str, **engine_kwargs: Any) -> FlexLedger:
        """A ledger on a plain SQLAlchemy URL (tests, benchmarks, scripts)."""
        return cls(engine=create_engine(url, **engine_kwargs))

    @staticmethod
    def _engine_for_connection(conn_id: str) -> Engine:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        if conn.conn_type == "sqlite":
            # Works without the sqlite provider: the host (or schema) is the database file.
            path = conn.host or conn.schema or ""
            return create_engine(f"sqlite:///{path}" if path else "sqlite://")
        hook = conn.get_hook()
        get_engine = getattr(hook, "get_sqlalchemy_engine", None)
        if get_engine is None:
            raise ValueError(f"Connection {conn_id!r} ({conn.conn_type}) is not a SQL connection")
        return get_engine()

    # -- schema ----------------------------------------------------------------------------------

    def _ensure(self) -> None:
        if not self._ready:
            with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # Two tasks (two days of a backfill) may create the tables at once; PostgreSQL's
                    # CREATE TABLE is not safe under that race, so creation is serialized by a lock.
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK_KEY})
                metadata.create_all(conn, checkfirst=True)
            self._ready = True

    def _begin(self) -> AbstractContextManager[Connection]:
        self._ensure()
        return self.engine.begin()

    @property
    def dialect(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return self.engine.dialect.name

    def _insert(self, table: Table) -> Any:
        """A dialect-specific INSERT (it has ``on_conflict_do_nothing``/``_do_update``)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover
            raise NotImplementedError(f"FlexLedger supports postgresql and sqlite, not {self.dialect}")
        return insert(table)

    # -- files -----------------------------------------------------------------------------------

    def record_file(
        self,
        name: str,
        *,
        business_date: date,
        kind: str,
        mid: str,
        rows: int,
        sha256: str,
        rows_sha256: str,
    ) -> str:
        """
        Record a written batch file; idempotent. Returns its state.

        A rerun with the same content changes nothing. Other content under the same name is accepted
        while the file is only ``written`` (the new file replaces it), and raises
        :class:`LedgerConflictError` once it was uploaded: Flex already has the old content.
        """
        now = _now()
        with self._begin() as conn:
            stmt = self._insert(batch_files).values(
                name=name,
                business_date=business_date,
                kind=kind,
                mid=mid,
                rows=rows,
                sha256=sha256,
                rows_sha256=rows_sha256,
                state="written",
                created_at=now,
                updated_at=now,
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            row = conn.execute(
                select(batch_files.c.sha256, batch_files.c.state).where(batch_files.c.name == name)
            ).one()
            if row.sha256 == sha256:
                return row.state
            if row.state != "written":
                raise LedgerConflictError(
                    f"{name} was {row.state} with sha256 {row.sha256}; the new file has {sha256}"
                )
            conn.execute(
                update(batch_files)
                .where(batch_files.c.name == name)
                .values(rows=rows, sha256=sha256, rows_sha256=rows_sha256, updated_at=now)
            )
            # Rows of the replaced content are re-recorded by the caller.
            conn.execute(batch_rows.delete().where(batch_rows.c.file_name == name))
            return "written"

    def file_state(self, name: str) -> str | None:
        """``written``, ``uploaded``, ``acknowledged``, or None for an unknown file."""
        with self._begin() as conn:
            return conn.execute(select(batch_files.c.state).where(batch_files.c.name == name)).scalar()

    def file_info(self, name: str) -> dict[str, Any] | None:
        """Every column of one file record, or None."""
        with self._begin() as conn:
            row = conn.execute(select(batch_files).where(batch_files.c.name == name)).mappings().first()
        return dict(row) if row is not None else None

    def files_for_day(
        self, mid: str, kind: str, business_date: date, *, states: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """
        Every file record of one merchant, kind and business date (all columns), by name.

        :param states: only files in these states (``written``, ``uploaded``, ``acknowledged``).
        """
        query = select(batch_files).where(
            batch_files.c.mid == mid, batch_files.c.kind == kind, batch_files.c.business_date == business_date
        )
        if states is not None:
            query = query.where(batch_files.c.state.in_(list(states)))
        with self._begin() as conn:
            return [dict(r) for r in conn.execute(query.order_by(batch_files.c.name)).mappings()]

    def next_file_number(self, mid: str, kind: str, business_date: date) -> int:
        """
        The first file number a new file of that day may use: one above every file Flex may have seen.

        Files only ``written`` (never uploaded) do not count: a rerun rebuilds them under the same
        numbers. Late rows of a day that was already shipped therefore go into new files instead of
        colliding with the uploaded ones (:class:`LedgerConflictError`).
        """
        numbers = [
            file_number(f["name"]) or 0
            for f in self.files_for_day(mid, kind, business_date, states=SHIPPED_STATES)
        ]
        return max(numbers, default=0) + 1

    def discard_unshipped_files(self, mid: str, kind: str, business_date: date) -> list[str]:
        """
        Forget the day's files that were recorded but never uploaded, with their rows.

        Called before a day's files are rebuilt: their orders are written again (possibly into other
        files), and rows of a file nobody uploaded must not count as shipped. Returns the names.
        """
        with self._begin() as conn:
            names = list(
                conn.execute(
                    select(batch_files.c.name).where(
                        batch_files.c.mid == mid,
                        batch_files.c.kind == kind,
                        batch_files.c.business_date == business_date,
                        batch_files.c.state == "written",
                    )
                ).scalars()
            )
            for batch in _batches(names, _IN_CHUNK):
                conn.execute(batch_rows.delete().where(batch_rows.c.file_name.in_(batch)))
                conn.execute(batch_files.delete().where(batch_files.c.name.in_(batch)))
        return names

    def rejected_files(self, mid: str, kind: str, business_date: date) -> list[dict[str, Any]]:
        """Files of that day Flex rejected as a whole (ack ``status`` REJECTED): to be uploaded again."""
        return [
            f
            for f in self.files_for_day(mid, kind, business_date, states=("acknowledged",))
            if f["ack_status"] == "REJECTED"
        ]

    def mark_reuploaded(self, name: str, remote_size: int, uploaded_sha256: str | None) -> bool:
        """
        Record a new upload of a file Flex had rejected as a whole (``acknowledged``/REJECTED -> ``uploaded``).

        The old ack status is cleared and the processed record of its ack file is forgotten, so the ack of
        the new upload (same name) is read. Rows keep their status (``SHIPPED``). Returns False, changing
        nothing, when the file is not a rejected one.
        """
        now = _now()
        with self._begin() as conn:
            result = conn.execute(
                update(batch_files)
                .where(
                    batch_files.c.name == name,
                    batch_files.c.state == "acknowledged",
                    batch_files.c.ack_status == "REJECTED",
                )
                .values(
                    state="uploaded",
                    ack_status=None,
                    ack_error=None,
                    acknowledged_at=None,
                    remote_size=remote_size,
                    uploaded_sha256=uploaded_sha256,
                    uploaded_at=now,
                    updated_at=now,
                )
            )
            if result.rowcount == 0:
                return False
            conn.execute(outbound_files.delete().where(outbound_files.c.name == ack_name(name)))
        return True

    def rows_for_files(
        self, names: Iterable[str], *, states: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """
        Stream the ledger rows of the given files (all row columns, times aware UTC), by file and sequence.

        :param states: only rows of files in these file states (e.g. ``("uploaded", "acknowledged")``:
            what Flex may have received).
        """
        self._ensure()
        for batch in _batches(list(dict.fromkeys(names)), _IN_CHUNK):
            query = select(batch_rows).where(batch_rows.c.file_name.in_(batch))
            if states is not None:
                shipped = select(batch_files.c.name).where(
                    batch_files.c.name.in_(batch), batch_files.c.state.in_(list(states))
                )
                query = query.where(batch_rows.c.file_name.in_(shipped))
            query = query.order_by(batch_rows.c.file_name, batch_rows.c.sequence_number)
            with self.engine.connect() as conn:
                for row in conn.execution_options(yield_per=BATCH_SIZE).execute(query).mappings():
                    yield self._row_dict(row)

    def rows_query(
        self,
        mid: str,
        kind: str = "evaluate",
        *,
        columns: Sequence[str] | None = None,
        updated_since: datetime | None = None,
        statuses: Sequence[str] | None = None,
        exclude_statuses: Sequence[str] | None = None,
    ) -> Select[Any]:
        """
        The SELECT behind :meth:`iter_rows` (``columns``: a subset, in this order), for callers that run
        it server-side, e.g. ``INSERT ... SELECT`` into another table of the same database.
        """
        self._ensure()
        picked = [batch_rows.c[c] for c in columns] if columns else [batch_rows]
        query = select(*picked).where(batch_rows.c.mid == mid, batch_rows.c.kind == kind)
        if updated_since is not None:
            query = query.where(batch_rows.c.updated_at >= updated_since)
        if statuses is not None:
            query = query.where(batch_rows.c.status.in_(list(statuses)))
        if exclude_statuses:
            query = query.where(batch_rows.c.status.not_in(list(exclude_statuses)))
        return query

    def iter_rows(
        self,
        mid: str,
        kind: str = "evaluate",
        *,
        updated_since: datetime | None = None,
        statuses: Sequence[str] | None = None,
        exclude_statuses: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stream ledger rows of one merchant and kind (all columns), filtered by update time and status."""
        query = self.rows_query(
            mid, kind, updated_since=updated_since, statuses=statuses, exclude_statuses=exclude_statuses
        )
        with self.engine.connect() as conn:
            for row in (
                conn.execution_options(yield_per=BATCH_SIZE)
                .execute(query.order_by(batch_rows.c.id))
                .mappings()
            ):
                yield self._row_dict(row)

    def mark_uploaded(self, name: str, remote_size: int, uploaded_sha256: str | None) -> None:
        """Record the upload of a file (``written`` -> ``uploaded``; an acknowledged file stays so)."""
        now = _now()
        with self._begin() as conn:
            result = conn.execute(
                update(batch_files)
                .where(batch_files.c.name == name)
                .values(
                    remote_size=remote_size,
                    uploaded_sha256=uploaded_sha256,
                    uploaded_at=now,
                    updated_at=now,
                    state=case((batch_files.c.state == "written", "uploaded"), else_=batch_files.c.state),
                )
            )
            if result.rowcount == 0:
                raise KeyError(f"{name} is not recorded in the ledger")

    def mark_acknowledged(self, name: str, ack_status: str = "PROCESSED", error: str | None = None) -> None:
        """Record Flex's acknowledgement of a file (its file-level status and errors)."""
        now = _now()
        with self._begin() as conn:
            self._mark_acknowledged(conn, name, ack_status, error, now)

    @staticmethod
    def _mark_acknowledged(
        conn: Connection, name: str, ack_status: str, error: str | None, now: datetime
    ) -> bool:
        result = conn.execute(
            update(batch_files)
            .where(batch_files.c.name == name)
            .values(
                state="acknowledged",
                ack_status=ack_status,
                ack_error=error,
                acknowledged_at=now,
                updated_at=now,
            )
        )
        return result.rowcount > 0

    # -- rows ------------------------------------------------------------------------------------

    def record_rows(self, name: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """
        Record the rows of a recorded file as ``SHIPPED``; idempotent (existing orders are kept).

        :param rows: mappings with ``order_id``, ``sequence_number``, optional ``idempotency_key`` and
            ``expiry_date_utc`` (see :func:`flex_provider.batch.writer.iter_batch_rows`).
        :return: the number of rows newly inserted.
        """
        info = self.file_info(name)
        if info is None:
            raise KeyError(f"record_file({name!r}) must come before record_rows")
        now = _now()
        inserted = 0
        st = staging_rows
        source = select(
            literal(info["mid"]),
            literal(info["kind"]),
            st.c.order_id,
            literal(info["business_date"], Date()),
            literal(name),
            st.c.sequence_number,
            st.c.idempotency_key,
            st.c.expiry_date_utc,
            literal("SHIPPED"),
            literal(now, DateTime(timezone=True)),
            literal(now, DateTime(timezone=True)),
        ).where(true())  # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT
        stmt = (
            self._insert(batch_rows)
            .from_select(
                [
                    "mid",
                    "kind",
                    "order_id",
                    "business_date",
                    "file_name",
                    "sequence_number",
                    "idempotency_key",
                    "expiry_date_utc",
                    "status",
                    "created_at",
                    "updated_at",
                ],
                source,
            )
            .on_conflict_do_nothing(index_elements=["mid", "kind", "order_id"])
        )
        with self._begin() as conn, self._staging(conn, staging_rows):
            for batch in _batches(rows, BATCH_SIZE):
                self._stage(
                    conn,
                    staging_rows,
                    [
                        {
                            "order_id": r["order_id"],
                            "sequence_number": int(r["sequence_number"]),
                            "idempotency_key": r.get("idempotency_key"),
                            "expiry_date_utc": _utc(r.get("expiry_date_utc")),
                        }
                        for r in batch
                    ],
                )
                inserted += conn.execute(stmt).rowcount
                conn.execute(staging_rows.delete())
        return inserted

    # -- bulk loading ----------------------------------------------------------------------------

    @contextmanager
    def _staging(self, conn: Connection, table: Table) -> Iterator[None]:
        """A session temp table, empty on entry, dropped on exit (inside the caller's transaction)."""
        table.create(conn, checkfirst=True)
        conn.execute(table.delete())
        yield
        table.drop(conn)

    def _stage(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        """Load rows into a staging table: COPY on PostgreSQL (psycopg 3 or psycopg2), executemany elsewhere."""
        if not rows:
            return
        names = [c.name for c in table.columns]
        done = copy_rows(conn, table.name, names, ([row.get(n) for n in names] for row in rows))
        if done is None:
            conn.execute(table.insert(), rows)
            return
        # Temp tables are never auto-analyzed; without statistics the planner guesses badly.
        conn.exec_driver_sql(f"ANALYZE {table.name}")

    def _fresh_statistics(self, conn: Connection) -> None:
        """
        Prepare PostgreSQL for batched joins against the ledger (nothing to do on SQLite).

        Joins for this transaction use index probes, and ``flex_batch_rows`` is ANALYZEd when it never
        was or changed a lot since.
        A freshly loaded ledger has no statistics; the planner then expects one row per merchant and
        walks the whole table for every staged batch instead of probing the unique index.
        """
        if self.dialect != "postgresql":
            return
        # Each staged batch is small next to the ledger: probe the unique index per staged row rather
        # than hashing the whole ledger once per batch (what the planner picks at 100k+ rows).
        conn.execute(text("SET LOCAL enable_hashjoin = off"))
        conn.execute(text("SET LOCAL enable_mergejoin = off"))
        row = conn.execute(
            text(
                "SELECT c.reltuples, COALESCE(s.n_mod_since_analyze, 0) FROM pg_class c "
                "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
                "WHERE c.oid = to_regclass('flex_batch_rows')"
            )
        ).first()
        if row is None:
            return
        reltuples, modified = float(row[0]), int(row[1])
        if reltuples < 0 or modified > max(10_000.0, reltuples * 0.2):
            conn.execute(text("ANALYZE flex_batch_rows"))

    def already_shipped(
        self,
        mid: str,
        kind: str,
        order_ids: Iterable[str],
        *,
        exclude_business_date: date | None = None,
    ) -> set[str]:
        """
        The order ids among ``order_ids`` recorded for ``mid``/``kind`` in any file.

        :param exclude_business_date: ignore rows of files of this business date, so a rerun of the
            same day rebuilds its own files instead of rejecting its own rows.
        """
        found: set[str] = set()
        ids = list(dict.fromkeys(order_ids))
        # PostgreSQL takes the whole list as one array parameter; elsewhere IN lists of bounded size.
        on_pg = self.dialect == "postgresql"
        with self._begin() as conn:
            for batch in _batches(ids, max(len(ids), 1) if on_pg else _IN_CHUNK):
                member = (
                    batch_rows.c.order_id == any_(literal(batch, ARRAY(String)))
                    if on_pg
                    else batch_rows.c.order_id.in_(batch)
                )
                query = select(batch_rows.c.order_id).where(
                    batch_rows.c.mid == mid, batch_rows.c.kind == kind, member
                )
                if exclude_business_date is not None:
                    query = query.where(batch_rows.c.business_date != exclude_business_date)
                found.update(conn.execute(query).scalars())
        return found

    def already_shipped_callback(
        self, mid: str, kind: str, business_date: date
    ) -> Callable[[list[str]], set[str]]:
        """The ``already_shipped`` callable for :class:`BatchWriter` (ignores the day's own rows)."""

        def _check(order_ids: list[str]) -> set[str]:
            return self.already_shipped(mid, kind, order_ids, exclude_business_date=business_date)

        return _check

    def rows_for_orders(self, mid: str, kind: str, order_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """order id -> ledger row (all columns) for the given orders that are recorded."""
        out: dict[str, dict[str, Any]] = {}
        with self._begin() as conn:
            for batch in _batches(list(dict.fromkeys(order_ids)), _IN_CHUNK):
                query = select(batch_rows).where(
                    batch_rows.c.mid == mid, batch_rows.c.kind == kind, batch_rows.c.order_id.in_(batch)
                )
                for row in conn.execute(query).mappings():
                    out[row["order_id"]] = self._row_dict(row)
        return out

    def pending_orders(
        self,
        mid: str,
        *,
        as_of: datetime | None = None,
        kind: str = "evaluate",
        statuses: Sequence[str] = ("SUBMITTED",),
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """
        Rows still waiting for a final outcome although their rescue window ended.

        Default: ``SUBMITTED`` evaluate rows whose ``expiry_date_utc`` is before ``as_of`` (now), oldest
        first. Pass ``as_of=None`` with ``statuses`` to list by status only.
        """
        query = select(batch_rows).where(
            batch_rows.c.mid == mid, batch_rows.c.kind == kind, batch_rows.c.status.in_(list(statuses))
        )
        cutoff = _utc(as_of) if as_of is not None else _now()
        query = query.where(batch_rows.c.expiry_date_utc.is_not(None), batch_rows.c.expiry_date_utc < cutoff)
        query = query.order_by(batch_rows.c.expiry_date_utc, batch_rows.c.order_id)
        if limit is not None:
            query = query.limit(limit)
        with self._begin() as conn:
            return [self._row_dict(r) for r in conn.execute(query).mappings()]

    @staticmethod
    def _row_dict(row: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for key in ("expiry_date_utc", "result_at", "created_at", "updated_at"):
            out[key] = _utc(out.get(key))
        return out

    # -- outbound --------------------------------------------------------------------------------

    def apply_ack(self, ack: AckFile) -> dict[str, int]:
        """
        Apply an acknowledgement file: per row ``order_session_key`` and ``SUBMITTED``/``REJECTED``,
        in bulk; marks the inbound file acknowledged. Rows with a final status are left alone.
        """
        now = _now()
        counts = {"rows": len(ack.rows), "updated": 0, "unknown_file": 0}
        error = "; ".join(str(e) for e in ack.file_errors) or None
        with self._begin() as conn:
            if not self._mark_acknowledged(conn, ack.inbound_file, ack.status, error, now):
                counts["unknown_file"] = 1
                log.warning("Ack for %s, a file this ledger did not record", ack.inbound_file)
            r, s = batch_rows, staging_acks
            stmt = (
                update(r)
                .where(
                    r.c.file_name == ack.inbound_file, r.c.order_id == s.c.order_id, r.c.status.in_(NON_FINAL)
                )
                .values(
                    status=s.c.status,
                    order_session_key=func.coalesce(s.c.order_session_key, r.c.order_session_key),
                    error=s.c.error,
                    updated_at=now,
                )
            )
            with self._staging(conn, staging_acks):
                self._fresh_statistics(conn)
                for batch in _batches(ack.rows, BATCH_SIZE):
                    staged = {
                        row.order_id: {
                            "order_id": row.order_id,
                            "status": "REJECTED" if row.status == "REJECTED" else "SUBMITTED",
                            "order_session_key": row.order_session_key,
                            "error": "; ".join(
                                f"{e.field}: {e.message}" if e.field else e.message for e in row.errors
                            )
                            or None,
                        }
                        for row in batch
                    }
                    self._stage(conn, staging_acks, list(staged.values()))
                    counts["updated"] += conn.execute(stmt).rowcount
                    conn.execute(staging_acks.delete())
        return counts

    def apply_results(
        self,
        result: ResultFile | Iterable[ResultRow],
        *,
        mid: str | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> dict[str, int]:
        """
        Apply final outcomes (never backwards, see the module docstring), in batches, one transaction.

        :param result: a :class:`ResultFile`, or an iterable of :class:`ResultRow` (streamed) with ``mid``.
        :param mid: the merchant id when ``result`` is a bare iterable of rows.
        :return: counts: ``received`` (input rows), ``applied`` (ledger rows changed; several outcomes
            of one order in one batch count once), ``unknown`` (order not in the ledger), ``ignored``
            (the rest: no forward move, or superseded within the batch).
        """
        if isinstance(result, ResultFile):
            mid, rows = result.mid, result.rows
        else:
            if mid is None:
                raise ValueError("mid is required with an iterable of result rows")
            rows = result
        counts = {"received": 0, "applied": 0, "ignored": 0, "unknown": 0}
        now = _now()
        r, s = batch_rows, staging_results
        allowed = or_(*(and_(s.c.status == new, r.c.status.in_(old)) for new, old in ALLOWED_FROM.items()))
        apply_stmt = (
            update(r)
            .where(r.c.mid == mid, r.c.kind == "evaluate", r.c.order_id == s.c.order_id, allowed)
            .values(
                status=s.c.status,
                order_session_key=func.coalesce(s.c.order_session_key, r.c.order_session_key),
                confirmation_id=func.coalesce(s.c.confirmation_id, r.c.confirmation_id),
                amount=func.coalesce(s.c.amount, r.c.amount),
                currency=func.coalesce(s.c.currency, r.c.currency),
                result_at=func.coalesce(s.c.result_at, r.c.result_at),
                updated_at=now,
            )
        )
        unknown_stmt = (
            select(func.count())
            .select_from(s)
            .where(~exists().where(r.c.mid == mid, r.c.kind == "evaluate", r.c.order_id == s.c.order_id))
        )
        with self._begin() as conn, self._staging(conn, staging_results):
            self._fresh_statistics(conn)
            for batch in _batches(rows, batch_size):
                counts["received"] += len(batch)
                self._stage(conn, staging_results, self._fold(batch))
                counts["applied"] += conn.execute(apply_stmt).rowcount
                counts["unknown"] += conn.execute(unknown_stmt).scalar_one()
                conn.execute(staging_results.delete())
        counts["ignored"] = counts["received"] - counts["applied"] - counts["unknown"]
        return counts

    @staticmethod
    def _fold(batch: list[ResultRow]) -> list[dict[str, Any]]:
        """One staged row per order: the outcome sequential application would leave."""
        by_order: dict[str, ResultRow] = {}
        for row in batch:
            prev = by_order.get(row.order_id)
            if prev is None or prev.status in ALLOWED_FROM[row.status]:
                by_order[row.order_id] = row
        return [
            {
                "order_id": row.order_id,
                "status": row.status,
                "order_session_key": row.order_session_key,
                "confirmation_id": row.confirmation_id,
                "amount": row.amount,
                "currency": row.currency,
                "result_at": _utc(row.timestamp_utc),
            }
            for row in by_order.values()
        ]

    def processed_outbound_names(self) -> set[str]:
        """Names of outbound files already processed or quarantined (not to be read again)."""
        with self._begin() as conn:
            return set(conn.execute(select(outbound_files.c.name)).scalars())

    def mark_outbound_processed(
        self, name: str, sha256: str | None, kind: str, status: str, error: str | None = None
    ) -> None:
        """Record an outbound file as ``processed`` or ``quarantined``; a repeat updates the record."""
        if status not in ("processed", "quarantined"):
            raise ValueError(f"status must be 'processed' or 'quarantined', not {status!r}")
        stmt = self._insert(outbound_files).values(
            name=name, kind=kind, sha256=sha256, status=status, error=error, processed_at=_now()
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"sha256": sha256, "kind": kind, "status": status, "error": error, "processed_at": _now()},
        )
        with self._begin() as conn:
            conn.execute(stmt)

    # -- reporting -------------------------------------------------------------------------------

    def summary(self, business_date: date) -> dict[str, Any]:
        """Counts for one business date: files by kind and state, rows by kind and status."""
        with self._begin() as conn:
            files = conn.execute(
                select(batch_files.c.kind, batch_files.c.state, func.count(), func.sum(batch_files.c.rows))
                .where(batch_files.c.business_date == business_date)
                .group_by(batch_files.c.kind, batch_files.c.state)
            ).all()
            rows = conn.execute(
                select(batch_rows.c.kind, batch_rows.c.status, func.count())
                .where(batch_rows.c.business_date == business_date)
                .group_by(batch_rows.c.kind, batch_rows.c.status)
            ).all()
        out: dict[str, Any] = {"business_date": business_date.isoformat(), "files": {}, "rows": {}}
        for kind, state, n, total in files:
            out["files"].setdefault(kind, {})[state] = {"files": n, "rows": int(total or 0)}
        for kind, status, n in rows:
            out["rows"].setdefault(kind, {})[status] = n
        return out
