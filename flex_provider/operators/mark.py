"""Write what was shipped and rejected back to the merchant DB (orders PENDING_FLEX, reject reasons)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from flex_provider.operators.common import (
    LEDGER_CONN_ID,
    MERCHANT_CONN_ID,
    REJECTS_COLUMNS,
    REJECTS_STAGE,
    REJECTS_TYPES,
    SHIPPED_COLUMNS,
    SHIPPED_STAGE,
    SHIPPED_TYPES,
    _read_sql,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


class MarkOrdersPendingOperator(BaseOperator):
    """
    Write what was shipped and rejected back to the merchant DB, set-based.

    Stages the ledger rows of the manifest's files (``flex_stage_shipped``: order id, file, business date,
    expiry) and the rejects CSV (``flex_stage_rejects``: order id, business date, reason) in temp tables of
    the merchant DB, then runs the templated ``sql`` (default ``dags/sql/mark_pending.sql``) that moves
    shipped orders to ``PENDING_FLEX`` and notes reject reasons. Only rows the ledger holds are marked, so
    a file that was written but never uploaded marks nothing.

    :param manifest: manifest path (templated).
    :param sql: SQL script or ``.sql`` file (templated); bind parameter ``:now``.
    :param merchant_conn_id: SQL connection of the merchant database.
    :param ledger_conn_id: SQL connection of the ledger.
    """

    template_fields: Sequence[str] = ("manifest", "sql", "merchant_conn_id", "ledger_conn_id")
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql"}
    ui_color = "#fef9e7"

    def __init__(
        self,
        *,
        manifest: str,
        sql: str,
        merchant_conn_id: str = MERCHANT_CONN_ID,
        ledger_conn_id: str = LEDGER_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.sql = sql
        self.merchant_conn_id = merchant_conn_id
        self.ledger_conn_id = ledger_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        import csv

        from flex_provider.batch.ledger import SHIPPED_STATES, FlexLedger
        from flex_provider.batch.writer import read_manifest
        from flex_provider.merchant.db import engine_for_conn, run_script, stage_rows, staging_table, utc_text

        manifest_path = Path(self.manifest)
        manifest = read_manifest(manifest_path)
        bd = manifest.business_date.isoformat()
        ledger = FlexLedger(self.ledger_conn_id)
        # Every file of the day Flex may have received, not only this run's: a rerun after a crash
        # between ship and mark still marks the orders an earlier run uploaded.
        names = sorted(
            {e.name for e in manifest.files}
            | {
                f["name"]
                for f in ledger.files_for_day(
                    manifest.mid, manifest.kind, manifest.business_date, states=SHIPPED_STATES
                )
            }
        )

        def shipped() -> Iterator[tuple[Any, ...]]:
            for row in ledger.rows_for_files(names, states=SHIPPED_STATES):
                expiry = row["expiry_date_utc"]
                yield (row["order_id"], row["file_name"], bd, utc_text(expiry) if expiry else None)

        def rejects() -> Iterator[tuple[Any, ...]]:
            path = manifest_path.parent / manifest.rejects_file
            if not path.exists():
                return
            with path.open(encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    if row.get("order_id"):
                        yield (row["order_id"], bd, row["reason"].split(":", 1)[0])

        engine = engine_for_conn(self.merchant_conn_id)
        try:
            with (
                engine.begin() as conn,
                staging_table(conn, SHIPPED_STAGE, SHIPPED_TYPES),
                staging_table(conn, REJECTS_STAGE, REJECTS_TYPES),
            ):
                n_shipped = stage_rows(conn, SHIPPED_STAGE, SHIPPED_COLUMNS, shipped() if names else iter(()))
                n_rejects = stage_rows(conn, REJECTS_STAGE, REJECTS_COLUMNS, rejects())
                counts = run_script(conn, _read_sql(self.sql), {"now": utc_text(), "business_date": bd})
        finally:
            engine.dispose()
        self.log.info(
            "Marked shipped orders (%d staged) and rejects (%d staged): %s", n_shipped, n_rejects, counts
        )
        return {"business_date": bd, "shipped_rows": n_shipped, "reject_rows": n_rejects, "updated": counts}
