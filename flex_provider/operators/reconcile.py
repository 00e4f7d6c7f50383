"""Move merchant orders to their final state from the ledger, webhook events and GET /orders."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from flex_provider.operators.common import (
    _ORDER_STATUS_OUTCOME,
    FLEX_CONN_ID,
    LEDGER_CONN_ID,
    MERCHANT_CONN_ID,
    OUTCOME_COLUMNS,
    OUTCOME_STAGE,
    OUTCOME_TYPES,
    _as_utc_datetime,
    _mid,
    _read_sql,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from sqlalchemy import Select


class ReconcileOrdersOperator(BaseOperator):
    """
    Move merchant orders to their final state from the ledger, webhook events and GET /orders.

    1. Ledger rows (evaluate, changed in the last ``lookback_days``) are staged into the merchant DB's
       ``flex_stage_outcomes`` temp table and ``apply_sql`` runs (default ``dags/sql/apply_outcomes.sql``:
       APPROVED -> PAID, EXPIRED -> FAILED, CANCELLED, REFUNDED, SUBMITTED stores Flex's order id; never
       backwards). Set-based: one UPDATE per script statement, whatever the row count.
    2. When the webhook store (``flex_webhook_order_state``) exists on ``webhook_conn_id``, its states are
       staged and applied the same way.
    3. With ``sweep``: orders still ``PENDING_FLEX`` whose rescue window ended more than
       ``sweep_grace_minutes`` ago are looked up with GET /orders/{id} (at most ``sweep_limit``); final
       ones are applied to the merchant DB and the ledger.
    4. ``summary_sql`` (default ``dags/sql/recovery_summary.sql``) rewrites ``flex_recovery_summary``.

    :param apply_sql: SQL script or ``.sql`` file applying ``flex_stage_outcomes`` (templated).
    :param summary_sql: SQL script or ``.sql`` file writing the summary (templated); None skips it.
    :param merchant_conn_id: SQL connection of the merchant database.
    :param ledger_conn_id: SQL connection of the ledger.
    :param webhook_conn_id: SQL connection of the webhook store (default: the ledger's).
    :param flex_conn_id: ``flex`` connection for the sweep.
    :param mid: merchant id (templated; default from the ``flex`` connection).
    :param sweep: look up overdue pending orders with GET /orders/{id}.
    :param sweep_limit: most orders looked up per run.
    :param sweep_grace_minutes: minutes after the expiry before an order counts as overdue.
    :param sweep_as_of: the "now" for the sweep (templated ISO date-time; default the real clock).
    :param lookback_days: only ledger rows updated this recently are staged.
    """

    template_fields: Sequence[str] = (
        "apply_sql",
        "summary_sql",
        "merchant_conn_id",
        "ledger_conn_id",
        "webhook_conn_id",
        "mid",
        "sweep_as_of",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"apply_sql": "sql", "summary_sql": "sql"}
    ui_color = "#f4ecf7"

    def __init__(
        self,
        *,
        apply_sql: str,
        summary_sql: str | None = None,
        merchant_conn_id: str = MERCHANT_CONN_ID,
        ledger_conn_id: str = LEDGER_CONN_ID,
        webhook_conn_id: str | None = None,
        flex_conn_id: str = FLEX_CONN_ID,
        mid: str | None = None,
        sweep: bool = True,
        sweep_limit: int = 500,
        sweep_grace_minutes: float = 60.0,
        sweep_as_of: str | None = None,
        lookback_days: int = 60,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.apply_sql = apply_sql
        self.summary_sql = summary_sql
        self.merchant_conn_id = merchant_conn_id
        self.ledger_conn_id = ledger_conn_id
        self.webhook_conn_id = webhook_conn_id
        self.flex_conn_id = flex_conn_id
        self.mid = mid
        self.sweep = sweep
        self.sweep_limit = sweep_limit
        self.sweep_grace_minutes = sweep_grace_minutes
        self.sweep_as_of = sweep_as_of
        self.lookback_days = lookback_days

    def _apply(
        self,
        engine: Any,
        rows: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]] | None,
        *,
        server_side: Select[Any] | None = None,
    ) -> tuple[int, int]:
        """
        Stage outcomes and run ``apply_sql``. ``server_side``: a SELECT of the outcome columns in the
        merchant database itself, staged with ``INSERT ... SELECT`` (no row travels through Python).
        """
        from sqlalchemy import column, insert, table

        from flex_provider.merchant.db import run_script, stage_rows, staging_table, utc_text

        with engine.begin() as conn, staging_table(conn, OUTCOME_STAGE, OUTCOME_TYPES):
            if server_side is not None:
                stage = table(OUTCOME_STAGE, *(column(c) for c in OUTCOME_COLUMNS))
                staged = conn.execute(insert(stage).from_select(list(OUTCOME_COLUMNS), server_side)).rowcount
                conn.exec_driver_sql(f"ANALYZE {OUTCOME_STAGE}")
            else:
                staged = stage_rows(conn, OUTCOME_STAGE, OUTCOME_COLUMNS, rows or [])
            counts = run_script(conn, _read_sql(self.apply_sql), {"now": utc_text()}) if staged else []
        return staged, sum(c for c in counts if c and c > 0)

    def _ledger_query(self, engine: Any, mid: str) -> Select[Any] | None:
        """
        The ledger's outcomes as a SELECT when the ledger lives in the merchant's PostgreSQL database
        (the common set-up): staging them server-side skips a round trip through Python for each row.
        """
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.merchant.db import same_database

        if engine.dialect.name != "postgresql":
            return None
        ledger = FlexLedger(self.ledger_conn_id)
        try:
            if not same_database(engine, ledger.engine):
                return None
            return ledger.rows_query(
                mid,
                "evaluate",
                columns=("order_id", "order_session_key", "status", "confirmation_id", "amount", "result_at"),
                updated_since=datetime.now(timezone.utc) - timedelta(days=self.lookback_days),
                exclude_statuses=("SHIPPED",),
            )
        finally:
            ledger.engine.dispose()

    def _ledger_rows(self, mid: str) -> Iterator[tuple[Any, ...]]:
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.merchant.db import utc_text

        since = datetime.now(timezone.utc) - timedelta(days=self.lookback_days)
        for row in FlexLedger(self.ledger_conn_id).iter_rows(
            mid, "evaluate", updated_since=since, exclude_statuses=("SHIPPED",)
        ):
            result_at = row["result_at"]
            yield (
                row["order_id"],
                row["order_session_key"],
                row["status"],
                row["confirmation_id"],
                row["amount"],
                utc_text(result_at) if result_at else None,
            )

    def _webhook_rows(self) -> list[tuple[Any, ...]]:
        from flex_provider.merchant.db import engine_for_conn, table_exists, utc_text

        conn_id = self.webhook_conn_id or self.ledger_conn_id
        engine = engine_for_conn(conn_id)
        try:
            if not table_exists(engine, "flex_webhook_order_state"):
                return []
            from sqlalchemy import text

            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT external_order_id, order_id, status, confirmation_id, amount, event_ts "
                        "FROM flex_webhook_order_state WHERE external_order_id IS NOT NULL"
                    )
                ).all()
        finally:
            engine.dispose()
        out = []
        for ext, flex_id, status, confirmation, amount, event_ts in rows:
            when = _as_utc_datetime(event_ts)
            out.append((ext, flex_id, status, confirmation, amount, utc_text(when) if when else None))
        return out

    def _sweep(self, engine: Any, mid: str) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.hooks.api import FlexApiHook
        from flex_provider.merchant.db import utc_text
        from flex_provider.models.batch import ResultRow

        as_of = (
            datetime.fromisoformat(str(self.sweep_as_of).replace("Z", "+00:00"))
            if self.sweep_as_of
            else datetime.now(timezone.utc)
        )
        cutoff = utc_text(as_of - timedelta(minutes=self.sweep_grace_minutes))
        with engine.connect() as conn:
            overdue = conn.execute(
                text(
                    "SELECT DISTINCT order_id, flex_order_id FROM orders WHERE status = 'PENDING_FLEX' "
                    "AND flex_order_id IS NOT NULL AND flex_expiry_at < :cutoff ORDER BY order_id LIMIT :n"
                ),
                {"cutoff": cutoff, "n": int(self.sweep_limit)},
            ).all()
        if not overdue:
            return []
        found: list[tuple[Any, ...]] = []
        results: list[ResultRow] = []
        with FlexApiHook(self.flex_conn_id) as api:
            for order_id, flex_id in overdue:
                order = api.get_order(flex_id)
                outcome = _ORDER_STATUS_OUTCOME.get(order.status)
                if outcome is None:
                    continue
                when = datetime.now(timezone.utc)
                found.append(
                    (order_id, flex_id, outcome, order.confirmation_id, order.amount, utc_text(when))
                )
                results.append(
                    ResultRow(
                        order_id=order_id,
                        order_session_key=flex_id,
                        status=outcome,  # type: ignore[arg-type]
                        confirmation_id=order.confirmation_id,
                        amount=order.amount,
                        currency=order.currency_code,
                        timestamp_utc=when,
                    )
                )
        if results:
            FlexLedger(self.ledger_conn_id).apply_results(results, mid=mid)
        self.log.info("Swept %d overdue pending order(s); %d were final at Flex", len(overdue), len(found))
        return found

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.merchant.db import engine_for_conn, run_script, utc_text

        mid = _mid(self.mid, self.flex_conn_id)
        engine = engine_for_conn(self.merchant_conn_id)
        out: dict[str, Any] = {}
        try:
            query = self._ledger_query(engine, mid)
            out["ledger_staged"], out["ledger_updated"] = (
                self._apply(engine, None, server_side=query)
                if query is not None
                else self._apply(engine, self._ledger_rows(mid))
            )
            webhook_rows = self._webhook_rows()
            out["webhook_staged"], out["webhook_updated"] = self._apply(engine, webhook_rows)
            out["swept"] = 0
            if self.sweep:
                swept = self._sweep(engine, mid)
                out["swept"] = len(swept)
                _, out["sweep_updated"] = self._apply(engine, swept)
            if self.summary_sql:
                with engine.begin() as conn:
                    run_script(conn, _read_sql(self.summary_sql), {"now": utc_text()})
                out["summary"] = recovery_totals(engine)
        finally:
            engine.dispose()
        self.log.info("Reconciled: %s", out)
        return out


def recovery_totals(engine: Any) -> dict[str, Any]:
    """Totals over ``flex_recovery_summary`` (all dates and currencies), for logs and XCom."""
    from sqlalchemy import text

    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT COALESCE(SUM(declines_sent),0), COALESCE(SUM(rejected),0), COALESCE(SUM(pending),0), "
                "COALESCE(SUM(rescued_count),0), COALESCE(SUM(rescued_amount_cents),0), "
                "COALESCE(SUM(expired_count),0), COALESCE(SUM(cancelled_count),0), "
                "COALESCE(SUM(refunded_count),0) FROM flex_recovery_summary"
            )
        ).one()
    sent, rejected, pending, rescued, amount, expired, cancelled, refunded = (int(v) for v in row)
    settled = rescued + expired
    return {
        "declines_sent": sent,
        "rejected": rejected,
        "pending": pending,
        "rescued": rescued,
        "rescued_amount_cents": amount,
        "expired": expired,
        "cancelled": cancelled,
        "refunded": refunded,
        "recovery_rate": round(rescued / settled, 4) if settled else None,
    }
