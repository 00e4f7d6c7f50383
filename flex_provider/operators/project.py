"""Project the ledger's order states into the merchant DB: the one writer of the Flex columns of ``orders``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from flex_provider.operators.common import LEDGER_CONN_ID, MERCHANT_CONN_ID, read_sql

if TYPE_CHECKING:
    from airflow.sdk import Context


class FlexProjectOrdersOperator(BaseOperator):
    """
    Apply the order states that changed since the last projection to the merchant's ``orders``.

    Stages the states into the merchant DB's temp table ``flex_stage_orders`` (server-side when ledger and
    merchant share a PostgreSQL database) and runs ``sql`` (default ``dags/sql/project_orders.sql``),
    which writes only rows that differ. Every sample DAG ends with this task; re-running it changes
    nothing. See :mod:`flex_provider.ledger.projection`.

    :param sql: SQL script or ``.sql`` file (templated); reads ``flex_stage_orders``, bind ``:now``.
    :param merchant_conn_id: SQL connection of the merchant database.
    :param ledger_conn_id: SQL connection of the ledger.
    :param mid: only this merchant's states (templated; default: every merchant in the ledger).
    :param order_ids: only these orders (templated), whatever the watermark; the watermark stays.
    :param full: ignore the watermark and re-project every selected state (a replay).
    :param summary_sql: optional script run after the projection in the merchant DB (e.g.
        ``sql/recovery_summary.sql``), templated.
    """

    template_fields: Sequence[str] = (
        "sql",
        "merchant_conn_id",
        "ledger_conn_id",
        "mid",
        "order_ids",
        "summary_sql",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql", "summary_sql": "sql"}
    ui_color = "#e8f8f5"

    def __init__(
        self,
        *,
        sql: str = "sql/project_orders.sql",
        merchant_conn_id: str = MERCHANT_CONN_ID,
        ledger_conn_id: str = LEDGER_CONN_ID,
        mid: str | None = None,
        order_ids: list[str] | None = None,
        full: bool = False,
        summary_sql: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.merchant_conn_id = merchant_conn_id
        self.ledger_conn_id = ledger_conn_id
        self.mid = mid
        self.order_ids = order_ids
        self.full = full
        self.summary_sql = summary_sql

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.ledger import FlexLedger
        from flex_provider.ledger.projection import project
        from flex_provider.merchant.db import engine_for_conn, run_script, utc_text

        order_ids = self.order_ids
        if isinstance(order_ids, str):  # a rendered template of one id or a comma list
            order_ids = [o.strip() for o in order_ids.split(",") if o.strip()]
        ledger = FlexLedger(self.ledger_conn_id)
        engine = engine_for_conn(self.merchant_conn_id)
        try:
            out = project(
                ledger,
                engine,
                read_sql(self.sql),
                mid=self.mid or None,
                order_ids=order_ids,
                full=bool(self.full),
            )
            if self.summary_sql:
                with engine.begin() as conn:
                    run_script(conn, read_sql(self.summary_sql), {"now": utc_text()})
                from flex_provider.operators.reconcile import recovery_totals

                out["summary"] = recovery_totals(engine)
        finally:
            engine.dispose()
            ledger.engine.dispose()
        self.log.info("Projected order states: %s", out)
        return out
