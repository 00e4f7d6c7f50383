"""The ledger's engine (flex_provider.ledger.base): Airflow connections, tables created once under a race."""

from __future__ import annotations

import json

import pytest

from flex_provider.ledger import FlexLedger
from tests.unit.ledger.facts import ship


def test_ledger_from_airflow_connections(tmp_path, monkeypatch: pytest.MonkeyPatch, pg_conn_id: str) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_FLEX_LEDGER_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")})
    )
    for conn_id in ("flex_ledger_sqlite", pg_conn_id):
        ledger = FlexLedger(conn_id)
        try:
            name = f"evaluate_{conn_id}_20261124_0001.json"
            ship(ledger, conn_id, name, 2, upload=False)
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


def test_a_watermark_never_moves_backwards(ledger: FlexLedger, mid: str) -> None:
    name = f"project:{mid}"
    assert ledger.get_mark(name) == 0
    ledger.set_mark(name, 7)
    ledger.set_mark(name, 3)  # a slow, older run finishing last
    assert ledger.get_mark(name) == 7
    ledger.set_mark(name, 9)
    assert ledger.get_mark(name) == 9
