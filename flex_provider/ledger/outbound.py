"""Which of Flex's outbound files (acks, results) were read or set aside, so none is read twice."""

from __future__ import annotations

from sqlalchemy import select

from flex_provider.ledger.base import LedgerBase
from flex_provider.ledger.schema import now as utcnow
from flex_provider.ledger.schema import outbound_files


class OutboundRegistry(LedgerBase):
    """The ``flex_outbound_files`` table."""

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
            name=name, kind=kind, sha256=sha256, status=status, error=error, processed_at=utcnow()
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"sha256": sha256, "kind": kind, "status": status, "error": error, "processed_at": utcnow()},
        )
        with self._begin() as conn:
            conn.execute(stmt)
