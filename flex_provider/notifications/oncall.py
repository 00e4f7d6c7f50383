"""Alert the merchant's on-call endpoint when a Flex day fails, through the http provider's notifier."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

#: What the on-call person does, by kind of failure (the exception's message adds the details).
WHAT_TO_DO = {
    "rejected": "Flex rejected the file(s) as a whole; nothing of them was processed. Re-run the day (clear "
    "the run, or backfill with --reprocess-behavior failed): the ship step uploads them again with a "
    "fresh token.",
    "not_shipped": "The file(s) were written but never uploaded; nothing was lost. Trigger the DAG with "
    "business_date set to the day to ship them.",
    "failed": "The day did not finish; shipped rows are safe in the ledger and a rerun ships nothing "
    "twice. Read the task log, fix the cause, then clear the failed task.",
}
#: Batch and outbound file names, as the writer and Flex spell them (compiled when an alert is built).
FILE_NAME = r"\b(?:evaluate|transmit|ack|result)_[A-Za-z0-9-]+_\d{8}_\d{4}\.(?:json|csv)\b"
_MAX_MESSAGE = 2000


def _kind(message: str) -> str:
    if "rejected" in message and "as a whole" in message:
        return "rejected"
    if "written but not shipped" in message:
        return "not_shipped"
    return "failed"


def _business_date(context: Context) -> str | None:
    """The day the run worked on: the extract step's XCom, the Param, else the data interval's UTC day."""
    ti = context.get("ti")
    if ti is not None:
        try:
            day = ti.xcom_pull(task_ids="extract_declines", key="business_date")
        except Exception:  # noqa: BLE001 - no extract step in this DAG, or no XCom yet: fall back
            day = None
        if day:
            return str(day)
    params = context.get("params") or {}
    if params.get("business_date"):
        return str(params["business_date"])
    start = context.get("data_interval_start")
    return start.date().isoformat() if start is not None else None


def alert_payload(context: Context) -> dict[str, Any]:
    """
    The alert body: which DAG, run, day, task and files, and what to do.

    Built from the context only (no connection, no row data). The error text is cut to a bounded length,
    card-number-like digits are masked and Airflow's secrets masker runs over it, so neither a secret nor
    card data reaches the endpoint.
    """
    import re

    from airflow.sdk._shared.secrets_masker import redact as mask_secrets

    from flex_provider.pci import mask_pans

    exc = context.get("exception")
    message = mask_pans(str(mask_secrets(str(exc) if exc is not None else "")))[:_MAX_MESSAGE]
    ti = context.get("ti")
    dag = context.get("dag")
    kind = _kind(message)
    return {
        "source": "airflow-provider-flex",
        "severity": "error",
        "dag_id": getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None),
        "run_id": context.get("run_id"),
        "task_id": getattr(ti, "task_id", None),
        "business_date": _business_date(context),
        "kind": kind,
        "files": sorted(set(re.findall(FILE_NAME, message))),
        "message": message,
        "what_to_do": WHAT_TO_DO[kind],
    }


class FlexOnCallNotifier(BaseNotifier):
    """
    POST a JSON alert to the merchant's on-call endpoint when a task of a Flex DAG fails for good.

    Sends through apache-airflow-providers-http's
    :class:`~airflow.providers.http.notifications.http.HttpNotifier` (``http`` connection: base URL, auth
    and headers live there), built when the alert goes out so that parsing a DAG never loads the HTTP
    stack; the body is :func:`alert_payload`. Use it as a task's (or the DAG's ``default_args``)
    ``on_failure_callback``. A missing connection only logs a warning: an alert must never hide the
    failure it reports.

    :param http_conn_id: ``http`` connection of the on-call endpoint (templated).
    :param endpoint: path below the connection's base URL (templated).
    """

    template_fields = ("http_conn_id", "endpoint")

    def __init__(self, *, http_conn_id: str = "flex_oncall", endpoint: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.http_conn_id = http_conn_id
        self.endpoint = endpoint

    def notify(self, context: Context) -> None:
        """Send :func:`alert_payload` of this failure through ``HttpNotifier``."""
        from airflow.providers.http.notifications.http import HttpNotifier
        from airflow.sdk.exceptions import AirflowNotFoundException

        payload = alert_payload(context)
        sender = HttpNotifier(http_conn_id=self.http_conn_id, endpoint=self.endpoint, method="POST", json=payload)
        try:
            sender.notify(context)
        except AirflowNotFoundException:
            self.log.warning("No connection %r: the on-call alert was not sent", self.http_conn_id)
            return
        self.log.info("On-call alert sent for %s %s", payload["dag_id"], payload["business_date"])
