"""The ledger's engine: an Airflow SQL connection or a plain URL, tables created once, dialect helpers."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.engine import Connection, Engine

from flex_provider.engines import sql_engine
from flex_provider.ledger.schema import DDL_LOCK_KEY, ledger_marks, metadata


class LedgerBase:
    """
    Engine and schema of the ledger.

    :param conn_id: Airflow connection id (conn_type ``postgres`` or ``sqlite``).
    :param engine: an existing engine instead (see :meth:`from_url`).
    """

    def __init__(self, conn_id: str | None = None, *, engine: Engine | None = None) -> None:
        if engine is None:
            if conn_id is None:
                raise ValueError("conn_id or engine is required")
            engine = sql_engine(conn_id)
        self.conn_id = conn_id
        self.engine = engine
        self._ready = False

    @classmethod
    def from_url(cls, url: str, **engine_kwargs: Any) -> Any:
        """A ledger on a plain SQLAlchemy URL (tests, benchmarks, scripts)."""
        return cls(engine=sql_engine(url, **engine_kwargs))

    def _ensure(self) -> None:
        if not self._ready:
            with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # Two tasks (two days of a backfill) may create the tables at once; PostgreSQL's
                    # CREATE TABLE is not safe under that race, so creation is serialized by a lock.
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DDL_LOCK_KEY})
                metadata.create_all(conn, checkfirst=True)
                conn.execute(
                    self._insert(ledger_marks)
                    .values(name="append", value=0)
                    .on_conflict_do_nothing(index_elements=["name"])
                )
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

    def get_mark(self, name: str) -> int:
        """A stored watermark (0 when never set)."""
        from sqlalchemy import select

        with self._begin() as conn:
            value = conn.execute(select(ledger_marks.c.value).where(ledger_marks.c.name == name)).scalar()
        return int(value or 0)

    def set_mark(self, name: str, value: int, conn: Connection | None = None) -> None:
        """Store a watermark (it never moves backwards)."""
        from flex_provider.ledger.schema import now

        stmt = self._insert(ledger_marks).values(name=name, value=int(value), at=now())
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"value": stmt.excluded.value, "at": stmt.excluded.at},
            where=ledger_marks.c.value < stmt.excluded.value,
        )
        if conn is not None:
            conn.execute(stmt)
            return
        with self._begin() as own:
            own.execute(stmt)
