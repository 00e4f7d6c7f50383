"""Extract a templated SQL query from the merchant DB into evaluate/transmit batch files."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, conf

from flex_provider.operators.common import (
    FLEX_CONN_ID,
    LEDGER_CONN_ID,
    MERCHANT_CONN_ID,
    as_date,
    read_sql,
    resolve_mid,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from sqlalchemy import Engine


class WriteBatchOperator(BaseOperator):
    """
    Run a templated SQL query on the merchant DB and stream its rows into evaluate/transmit batch files.

    The query must return the flat source columns of docs/batch-files.md (``order_id``, ``amount_cents``,
    ``currency``, ``card_token``...). Rows are streamed as Arrow record batches (ADBC on PostgreSQL and
    SQLite, a server-side cursor elsewhere) in chunks of ``chunk_size`` and handed to
    :class:`~flex_provider.batch.writer.BatchWriter`, which checks and encodes them a column at a time;
    memory stays flat.
    Orders the ledger already shipped on another business date are rejected (``already_shipped``); a
    rerun of the same day rebuilds the same files byte for byte, so the shipper skips them.

    The operator works out its own business day: ``business_date`` when given, else the UTC day of the
    run's ``data_interval_start`` (scheduled and backfill runs), else yesterday (UTC) for a manual run
    without a data interval. The query gets ``:window_start`` and ``:window_end`` (that day's
    ``[00:00, next 00:00)`` UTC, ISO text) besides ``parameters``.

    :param sql: SQL text or a ``.sql`` file (templated; bind parameters like ``:window_start``).
    :param parameters: more bind parameters for the query (templated); they win over the window's.
    :param business_date: the business date of the batch (templated, ``YYYY-MM-DD``; ``""``, None and
        ``"None"`` mean unset, e.g. ``"{{ params.business_date }}"`` of a run without the Param).
    :param out_dir: local folder for the files, rejects and manifest (templated); default
        ``<[flex] batch_dir>/<kind>/<business date>``.
    :param dry_run: write the files, touch no ledger record, and map no ship task (``ship_groups`` is
        empty): the run shows what would be sent (templated; ``"True"``/``"False"`` text is read).
    :param ship_groups: split the files to ship into this many groups (pushed as XCom ``ship_groups``;
        for a mapped ship step). Constant, so a cleared run never maps to fewer (apache/airflow#25531).
    :param kind: ``evaluate`` or ``transmit``.
    :param merchant_conn_id: SQL connection of the merchant database.
    :param ledger_conn_id: SQL connection of the ledger (may be the same database).
    :param flex_conn_id: ``flex`` connection whose ``mid`` extra is used when ``mid`` is not given.
    :param mid: the merchant id (templated).
    :param rows_per_file: at most 2000.
    :param chunk_size: rows fetched per round trip.
    :param row_limit: stop after this many rows (templated; None = all).
    :param expiry_days: evaluate only: days after the business date until the default ``expiryDateUtc``
        (default: ``[flex] expiry_days``).
    :param file_format: ``json``, or ``csv`` for transmit.
    """

    template_fields: Sequence[str] = (
        "sql",
        "parameters",
        "business_date",
        "out_dir",
        "mid",
        "row_limit",
        "dry_run",
        "merchant_conn_id",
        "ledger_conn_id",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql", "parameters": "json"}
    ui_color = "#fdf2e9"

    def __init__(
        self,
        *,
        sql: str,
        business_date: str | date | None = None,
        out_dir: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        dry_run: bool | str = False,
        ship_groups: int | None = None,
        kind: str = "evaluate",
        merchant_conn_id: str = MERCHANT_CONN_ID,
        ledger_conn_id: str = LEDGER_CONN_ID,
        flex_conn_id: str = FLEX_CONN_ID,
        mid: str | None = None,
        rows_per_file: int = 2000,
        chunk_size: int = 20_000,
        row_limit: int | str | None = None,
        expiry_days: int | None = None,
        file_format: str = "json",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)  # ``extract.output["manifest"]`` etc. in the DAG
        super().__init__(**kwargs)
        self.sql = sql
        self.parameters = parameters
        self.business_date = business_date
        self.out_dir = out_dir
        self.dry_run = dry_run
        self.ship_groups = ship_groups
        self.kind = kind
        self.merchant_conn_id = merchant_conn_id
        self.ledger_conn_id = ledger_conn_id
        self.flex_conn_id = flex_conn_id
        self.mid = mid
        self.rows_per_file = rows_per_file
        self.chunk_size = chunk_size
        self.row_limit = row_limit
        self.expiry_days = expiry_days
        self.file_format = file_format

    def resolve_day(self, context: Context | Mapping[str, Any]) -> date:
        """The business day: ``business_date``, else the data interval's UTC start day, else yesterday."""
        if not _unset(self.business_date):
            return as_date(self.business_date)  # type: ignore[arg-type]
        start = context.get("data_interval_start")
        if start is not None:
            return start.astimezone(timezone.utc).date()
        return datetime.now(timezone.utc).date() - timedelta(days=1)

    def query_parameters(self, day: date) -> dict[str, Any]:
        """The SQL's bind parameters: the day's UTC window, then the user's ``parameters``."""
        start = datetime.combine(day, time(), tzinfo=timezone.utc)
        window = {"window_start": _utc_text(start), "window_end": _utc_text(start + timedelta(days=1))}
        return {**window, **dict(self.parameters or {})}

    def local_dir(self, day: date) -> Path:
        """``out_dir``, else ``<[flex] batch_dir>/<kind>/<day>``."""
        if not _unset(self.out_dir):
            return Path(str(self.out_dir))
        return batch_root() / self.kind / day.isoformat()

    def _chunks(self, engine: Engine) -> Iterator[Any]:
        """The query's rows as Arrow tables of ``chunk_size`` rows (ADBC on PostgreSQL and SQLite)."""
        from flex_provider.batch.source import arrow_chunks

        limit = None if _unset(self.row_limit) else int(self.row_limit)  # type: ignore[arg-type]
        parameters = getattr(self, "_parameters", None) or dict(self.parameters or {})
        return arrow_chunks(engine, read_sql(self.sql), parameters, chunk_rows=self.chunk_size, limit=limit)

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.batch.day_files import write_day_files
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.merchant.db import engine_for_conn

        business_date = self.resolve_day(context)
        self.out_dir = str(self.local_dir(business_date))
        self._parameters = self.query_parameters(business_date)
        dry_run = _truthy(self.dry_run)
        self.log.info(
            "%s %s: window %s .. %s, folder %s%s", self.kind, business_date, self._parameters["window_start"],
            self._parameters["window_end"], self.out_dir, " (dry run: nothing is recorded or shipped)" if dry_run else "",
        )  # fmt: skip
        engine = engine_for_conn(self.merchant_conn_id)
        try:
            summary = write_day_files(
                self._chunks(engine),
                ledger=FlexLedger(self.ledger_conn_id),
                kind=self.kind,
                mid=resolve_mid(self.mid, self.flex_conn_id),
                business_date=business_date,
                out_dir=self.out_dir,
                rows_per_file=self.rows_per_file,
                file_format=self.file_format,
                expiry_days=conf.getint("flex", "expiry_days") if self.expiry_days is None else self.expiry_days,
                dry_run=dry_run,
            )
        finally:
            engine.dispose()
        self.log.info(
            "%s %s: extracted %d, written %d in %d file(s), rejected %d %s (rejects: %s)", self.kind,
            business_date, summary["extracted"], summary["written"], len(summary["files"]), summary["rejected"],
            summary["rejected_by_reason"], summary["rejects_file"],
        )  # fmt: skip
        if summary["resend"]:
            self.log.warning("Flex rejected %s as a whole; they will be uploaded again", summary["resend"])
        if self.ship_groups is not None:
            # A dry run maps no ship task at all: everything after it is skipped.
            to_ship = [*summary["files"], *summary["resend"]]
            summary["ship_groups"] = [] if dry_run else file_groups(to_ship, self.ship_groups)
        return summary


def _unset(value: object) -> bool:
    """An unset templated argument: None, ``""`` or the text ``"None"`` (a Param left empty)."""
    return value is None or (isinstance(value, str) and value.strip() in ("", "None"))


def _truthy(value: object) -> bool:
    """A templated flag: ``True``/``False``, or their rendered text."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _utc_text(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def batch_root() -> Path:
    """Local folder for batch files: ``[flex] batch_dir`` (default ``{AIRFLOW_HOME}/flex_batches``)."""
    return Path(conf.get("flex", "batch_dir"))  # declared in get_provider_info(): Airflow expands the default


def file_groups(names: list[str], tasks: int) -> list[list[str]]:
    """
    Split file names into exactly ``tasks`` groups (in order, sizes differing by at most one; some may be
    empty): one mapped ship task and one SSH session each.

    Always the same number of groups: Airflow leaves a mapped task instance ``removed`` when a cleared
    run expands to fewer items and never revives it when a later clear expands to more again
    (apache/airflow#25531), which would leave a rerun's new files unshipped.
    """
    tasks = max(1, int(tasks))
    size, extra = divmod(len(names), tasks)
    groups, start = [], 0
    for i in range(tasks):
        end = start + size + (1 if i < extra else 0)
        groups.append(names[start:end])
        start = end
    return groups


#: The name the sample DAGs use for the evaluate extract: ``WriteBatchOperator`` (its ``kind`` defaults to
#: ``evaluate``), not a subclass, so parsing a DAG pays for one operator class, not two.
ExtractDeclinesOperator = WriteBatchOperator
