"""FlexLedger on SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from flex_provider.batch.ledger import FlexLedger, LedgerConflictError
from flex_provider.models.batch import AckFile, ResultRow

DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 8, tzinfo=timezone.utc)


def _ship(
    ledger: FlexLedger,
    mid: str,
    name: str,
    n: int,
    *,
    day: date = DAY,
    start: int = 0,
    sha: str = "a",
    upload: bool = True,
) -> None:
    ledger.record_file(
        name, business_date=day, kind="evaluate", mid=mid, rows=n, sha256=sha * 64, rows_sha256="b" * 64
    )
    ledger.record_rows(
        name,
        (
            {
                "order_id": f"o{i}",
                "sequence_number": i - start + 1,
                "idempotency_key": f"k{i}",
                "expiry_date_utc": NOW + timedelta(days=i % 3),
            }
            for i in range(start, start + n)
        ),
    )
    if upload:  # Flex acks only what was uploaded; the upload record makes the rows "shipped" events
        ledger.mark_uploaded(name, 100, "e" * 64)


def _ack(mid: str, name: str, statuses: dict[str, str]) -> AckFile:
    return AckFile.model_validate(
        {
            "fileType": "ack",
            "inboundFile": name,
            "mid": mid,
            "receivedAtUtc": NOW.isoformat(),
            "status": "PROCESSED",
            "rowCount": len(statuses),
            "accepted": 0,
            "rejected": 0,
            "rows": [
                {
                    "sequenceNumber": "1",
                    "orderId": o,
                    "orderSessionKey": None if s == "REJECTED" else f"osk-{o}",
                    "status": s,
                }
                for o, s in statuses.items()
            ],
        }
    )


def _statuses(ledger: FlexLedger, mid: str, orders: list[str]) -> list[str]:
    rows = ledger.rows_for_orders(mid, "evaluate", orders)
    return [rows[o]["status"] for o in orders]


def test_record_file_and_rows_are_idempotent(ledger: FlexLedger, mid: str) -> None:
    name = f"evaluate_{mid}_20261124_0001.json"
    assert ledger.file_state(name) is None
    _ship(ledger, mid, name, 7, upload=False)
    assert (
        ledger.record_file(
            name, business_date=DAY, kind="evaluate", mid=mid, rows=7, sha256="a" * 64, rows_sha256="b" * 64
        )
        == "written"
    )
    assert ledger.record_rows(name, [{"order_id": "o1", "sequence_number": 2}]) == 0
    assert ledger.summary(DAY)["rows"]["evaluate"]["SHIPPED"] >= 7
    # new content while only written: accepted, old rows dropped for re-recording
    assert (
        ledger.record_file(
            name, business_date=DAY, kind="evaluate", mid=mid, rows=1, sha256="c" * 64, rows_sha256="d" * 64
        )
        == "written"
    )
    assert ledger.rows_for_orders(mid, "evaluate", ["o1"]) == {}
    assert ledger.record_rows(name, [{"order_id": "o1", "sequence_number": 1}]) == 1
    ledger.mark_uploaded(name, 123, "e" * 64)
    info = ledger.file_info(name)
    assert (info["state"], info["remote_size"], info["uploaded_sha256"]) == ("uploaded", 123, "e" * 64)
    with pytest.raises(LedgerConflictError):
        ledger.record_file(
            name, business_date=DAY, kind="evaluate", mid=mid, rows=1, sha256="f" * 64, rows_sha256="d" * 64
        )
    ledger.mark_acknowledged(name)
    ledger.mark_uploaded(name, 123, "e" * 64)  # a late re-upload record never moves it back
    assert ledger.file_state(name) == "acknowledged"
    with pytest.raises(KeyError):
        ledger.mark_uploaded("nope.json", 1, None)


def test_status_never_moves_backwards(ledger: FlexLedger, mid: str) -> None:
    name = f"evaluate_{mid}_20261124_0001.json"
    _ship(ledger, mid, name, 6)
    orders = [f"o{i}" for i in range(6)]
    counts = ledger.apply_ack(
        _ack(mid, name, {o: ("REJECTED" if o == "o5" else "SUBMITTED") for o in orders})
    )
    assert counts["updated"] == 6
    assert ledger.file_state(name) == "acknowledged"
    assert _statuses(ledger, mid, orders) == ["SUBMITTED"] * 5 + ["REJECTED"]

    first = [
        ResultRow(
            order_id="o0", order_session_key="osk-o0", status="APPROVED", confirmation_id="C0", amount=1999
        ),
        ResultRow(order_id="o1", status="EXPIRED"),
        ResultRow(order_id="o2", status="APPROVED"),
        ResultRow(order_id="o2", status="EXPIRED"),  # conflicting second outcome in the same file: ignored
        ResultRow(order_id="o3", status="APPROVED"),
        ResultRow(order_id="o3", status="REFUNDED"),  # refund after approval in the same file: applies
        ResultRow(order_id="ghost", status="APPROVED"),
    ]
    # o3's two outcomes land in one batch: one row changed, the superseded APPROVED counts as ignored
    assert ledger.apply_results(first, mid=mid, batch_size=3) == {
        "received": 7,
        "applied": 4,
        "ignored": 2,
        "unknown": 1,
    }
    assert _statuses(ledger, mid, orders) == [
        "APPROVED",
        "EXPIRED",
        "APPROVED",
        "REFUNDED",
        "SUBMITTED",
        "REJECTED",
    ]

    later = [
        ResultRow(order_id="o0", status="EXPIRED"),  # same rank, no later Flex time: APPROVED stays
        ResultRow(order_id="o1", status="APPROVED"),
        ResultRow(order_id="o1", status="CANCELLED"),  # rank 4 beats any outcome (a fold, not arrival order)
        ResultRow(order_id="o2", status="CANCELLED"),  # a rescued order voided later
        ResultRow(order_id="o3", status="APPROVED"),  # REFUNDED is terminal
        ResultRow(order_id="o4", status="CANCELLED"),
    ]
    ledger.apply_results(later, mid=mid)
    assert _statuses(ledger, mid, orders) == [
        "APPROVED",
        "CANCELLED",
        "CANCELLED",
        "REFUNDED",
        "CANCELLED",
        "REJECTED",
    ]
    # a replayed ack never reopens a final row
    ledger.apply_ack(_ack(mid, name, dict.fromkeys(orders, "SUBMITTED")))
    assert _statuses(ledger, mid, orders) == [
        "APPROVED",
        "CANCELLED",
        "CANCELLED",
        "REFUNDED",
        "CANCELLED",
        "SUBMITTED",
    ]
    row = ledger.rows_for_orders(mid, "evaluate", ["o0"])["o0"]
    assert (row["order_session_key"], row["confirmation_id"], row["amount"]) == ("osk-o0", "C0", 1999)
    # applying the same results again changes nothing
    again = ledger.apply_results(first, mid=mid)
    assert again["applied"] == 0
    assert again["unknown"] == 1


def test_already_shipped_pending_and_outbound(ledger: FlexLedger, mid: str) -> None:
    _ship(ledger, mid, f"evaluate_{mid}_20261123_0001.json", 3, day=DAY - timedelta(days=1))
    _ship(ledger, mid, f"evaluate_{mid}_20261124_0001.json", 3, start=3)
    ids = [f"o{i}" for i in range(8)]
    assert ledger.already_shipped(mid, "evaluate", ids) == {f"o{i}" for i in range(6)}
    assert ledger.already_shipped(mid, "evaluate", ids, exclude_business_date=DAY) == {"o0", "o1", "o2"}
    assert ledger.already_shipped_callback(mid, "evaluate", DAY)(ids) == {"o0", "o1", "o2"}
    assert ledger.already_shipped(mid, "transmit", ids) == set()
    assert ledger.already_shipped("other", "evaluate", ids) == set()
    assert (
        len(ledger.already_shipped(mid, "evaluate", [f"o{i}" for i in range(2500)])) == 6
    )  # chunked IN lists

    ledger.apply_ack(
        _ack(
            mid,
            f"evaluate_{mid}_20261124_0001.json",
            {"o3": "SUBMITTED", "o4": "SUBMITTED", "o5": "SUBMITTED"},
        )
    )
    pending = ledger.pending_orders(mid, as_of=NOW + timedelta(days=1, hours=1))
    assert [p["order_id"] for p in pending] == ["o3", "o4"]  # expiries NOW, NOW+1d; o5 expires NOW+2d
    assert pending[0]["expiry_date_utc"] == NOW

    name = f"result_{mid}_1.json"
    assert name not in ledger.processed_outbound_names()
    ledger.mark_outbound_processed(name, "a" * 64, "result", "quarantined", "bad row")
    ledger.mark_outbound_processed(name, "a" * 64, "result", "processed")
    assert name in ledger.processed_outbound_names()
    with pytest.raises(ValueError, match="status"):
        ledger.mark_outbound_processed(name, None, "result", "done")


def test_ledger_from_airflow_connections(tmp_path, monkeypatch: pytest.MonkeyPatch, pg_conn_id: str) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_FLEX_LEDGER_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")})
    )
    for conn_id in ("flex_ledger_sqlite", pg_conn_id):
        ledger = FlexLedger(conn_id)
        try:
            name = f"evaluate_{conn_id}_20261124_0001.json"
            _ship(ledger, conn_id, name, 2, upload=False)
            assert ledger.file_state(name) == "written"
        finally:
            ledger.engine.dispose()
    assert (tmp_path / "l.db").exists()


def test_concurrent_first_use_creates_tables_once_on_postgres(pg_url: str) -> None:
    """Two days of a backfill may touch a new ledger at once: table creation must not race."""
    import threading
    import uuid

    from sqlalchemy import create_engine, text

    name = "flex_race_" + uuid.uuid4().hex[:8]
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = pg_url.rsplit("/", 1)[0] + "/" + name
    errors: list[str] = []

    def first_use() -> None:
        ledger = FlexLedger.from_url(url)
        try:
            ledger.processed_outbound_names()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(exc)[:300])
        finally:
            ledger.engine.dispose()

    threads = [threading.Thread(target=first_use) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()
    assert errors == []
