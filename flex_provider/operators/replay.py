"""Re-fold stored ledger events and re-project them into the merchant DB (a manual repair)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from flex_provider.operators.common import LEDGER_CONN_ID, MERCHANT_CONN_ID, as_date, read_sql

if TYPE_CHECKING:
    from airflow.sdk import Context


class FlexReplayOrdersOperator(BaseOperator):
    """
    Re-fold stored events and re-project them, by business-date range or order ids (a manual repair).

    See :mod:`flex_provider.ledger.replay`: replaying twice changes nothing the second time.

    :param date_from: first business date (templated, ``YYYY-MM-DD``; empty: none).
    :param date_to: last business date (templated).
    :param order_ids: order ids (templated; a list or a comma-separated string).
    :param sql: the projection SQL (templated, ``.sql`` file).
    """

    template_fields: Sequence[str] = ("date_from", "date_to", "order_ids", "sql", "mid")
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql"}
    ui_color = "#e8f8f5"

    def __init__(
        self,
        *,
        date_from: str | None = None,
        date_to: str | None = None,
        order_ids: list[str] | str | None = None,
        sql: str = "sql/project_orders.sql",
        merchant_conn_id: str = MERCHANT_CONN_ID,
        ledger_conn_id: str = LEDGER_CONN_ID,
        mid: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.date_from = date_from
        self.date_to = date_to
        self.order_ids = order_ids
        self.sql = sql
        self.merchant_conn_id = merchant_conn_id
        self.ledger_conn_id = ledger_conn_id
        self.mid = mid

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.ledger import FlexLedger
        from flex_provider.ledger.replay import replay
        from flex_provider.merchant.db import engine_for_conn

        ids = self.order_ids
        if isinstance(ids, str):
            ids = [
                o.strip()
                for o in ids.replace("[", "").replace("]", "").replace("'", "").split(",")
                if o.strip()
            ]
        start = as_date(self.date_from) if self.date_from and self.date_from != "None" else None
        end = as_date(self.date_to) if self.date_to and self.date_to != "None" else None
        if not ids and start is None and end is None:
            raise AirflowFailException("Give date_from/date_to or order_ids")
        ledger = FlexLedger(self.ledger_conn_id)
        engine = engine_for_conn(self.merchant_conn_id)
        try:
            out = replay(
                ledger, engine, read_sql(self.sql), mid=self.mid or None, date_from=start, date_to=end,
                order_ids=ids or None,
            )  # fmt: skip
        finally:
            engine.dispose()
            ledger.engine.dispose()
        self.log.info("Replayed: %s", out)
        return out
