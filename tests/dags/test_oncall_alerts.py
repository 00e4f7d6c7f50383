"""
On-call alerts of the sample DAGs: a real ``dag.test()`` run of ``flex_mit_daily`` whose day fails posts
one JSON alert to a real HTTP server on 127.0.0.1 through apache-airflow-providers-http's
``HttpNotifier`` (the ``flex_oncall`` connection); a whole-file rejection's alert names the file and what
to do. No secret and no card number reaches the endpoint.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.dags.support import migrate_airflow_db, run_dag, task_states

APP_SECRET = "app-secret-never-in-an-alert"  # a test value that must not leak
PAN = "4111111111111111"


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received.append({"path": self.path, "headers": dict(self.headers), "body": body.decode()})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def oncall(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    """A real HTTP server on 127.0.0.1 as the on-call endpoint, and the connections of a failing day."""
    _Recorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http"}
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_ONCALL", json.dumps(conn))
    # A merchant DB without the orders table: the day's extract fails for real.
    empty = tmp_path / "empty.db"
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_MERCHANT_DB", json.dumps({"conn_type": "sqlite", "host": str(empty)}))
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_LEDGER_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")}))
    flex = {"conn_type": "flex", "login": "app-key", "password": APP_SECRET, "extra": {"mid": "mid-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_DEFAULT", json.dumps(flex))
    monkeypatch.setenv("AIRFLOW__FLEX__BATCH_DIR", str(tmp_path / "batches"))
    monkeypatch.setenv("AIRFLOW__CORE__DEFAULT_TASK_RETRIES", "0")
    try:
        yield _Recorder.received
    finally:
        server.shutdown()
        server.server_close()


def test_a_failed_day_alerts_the_oncall_endpoint_once(oncall: list[dict[str, Any]]) -> None:
    migrate_airflow_db()
    dr = run_dag("flex_mit_daily", conf={"business_date": "2026-11-20"})
    states = task_states(dr)
    assert str(dr.state) == "failed", states
    assert states["extract_declines"] == "failed"
    assert len(oncall) == 1, oncall  # the one failed task; the skipped/upstream-failed ones alert nothing
    alert = oncall[0]
    assert alert["headers"]["Content-Type"] == "application/json"
    body = json.loads(alert["body"])
    assert body["dag_id"] == "flex_mit_daily"
    assert body["task_id"] == "extract_declines"
    assert body["business_date"] == "2026-11-20"
    assert body["run_id"] == dr.run_id
    assert body["kind"] == "failed"
    assert "clear the failed task" in body["what_to_do"]
    assert "orders" in body["message"]  # the cause: the merchant DB has no orders table
    assert APP_SECRET not in alert["body"]


def test_a_rejected_file_alert_names_the_file_and_what_to_do(oncall: list[dict[str, Any]]) -> None:
    """The alert ProcessAcksOperator's failure sends: the file, the day, and the rerun that resends it."""
    from datetime import date

    from airflow.sdk.exceptions import AirflowFailException

    from flex_provider.batch.ledger import FlexLedger
    from flex_provider.models.batch import Manifest
    from flex_provider.notifications.oncall import FlexOnCallNotifier
    from flex_provider.operators.outbound import check_rejected_files

    name, sha = "evaluate_mid-1_20261120_0001.json", "0" * 64
    ledger = FlexLedger("flex_ledger_db")
    ledger.record_file(name, business_date=date(2026, 11, 20), kind="evaluate", mid="mid-1", rows=1, sha256=sha, rows_sha256=sha)
    ledger.mark_uploaded(name, remote_size=1, uploaded_sha256=sha)
    ledger.mark_acknowledged(name, "REJECTED", f"token expired (card {PAN} echoed back)")
    manifest = Manifest(kind="evaluate", mid="mid-1", business_date=date(2026, 11, 20), rejects_file="r.csv",
                        totals={"extracted": 1, "written": 1, "rejected": 0})  # fmt: skip
    with pytest.raises(AirflowFailException) as failed:
        check_rejected_files(ledger, manifest)

    class _TI:
        dag_id, task_id = "flex_mit_daily", "process_acks"

        def xcom_pull(self, **kwargs: object) -> str:
            return "2026-11-20" if kwargs.get("key") == "business_date" else ""

    FlexOnCallNotifier(http_conn_id="flex_oncall")({"ti": _TI(), "run_id": "r1", "exception": failed.value})
    (alert,) = oncall
    body = json.loads(alert["body"])
    assert body["kind"] == "rejected"
    assert body["files"] == [name]
    assert body["business_date"] == "2026-11-20"
    assert "Re-run the day" in body["what_to_do"]
    assert "token expired" in body["message"]
    assert PAN not in alert["body"]  # Flex's error text with a card number: masked
    assert APP_SECRET not in alert["body"]


def test_without_the_connection_the_alert_is_skipped_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    from flex_provider.notifications.oncall import FlexOnCallNotifier

    monkeypatch.delenv("AIRFLOW_CONN_FLEX_ONCALL", raising=False)
    FlexOnCallNotifier(http_conn_id="flex_oncall_missing").notify({"run_id": "r", "exception": ValueError("x")})
