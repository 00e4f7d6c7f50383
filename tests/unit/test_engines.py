"""``flex_provider.engines``: one engine factory for the ledger, the merchant DB and the webhook store.

The ledger and the merchant DB used to build engines apart (the ledger ignored ``sqlalchemy_url`` and
had no pre-ping on PostgreSQL); these tests hold both to the same behaviour, on real SQLite files and the
machine's real PostgreSQL.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from flex_provider.engines import is_url, sql_engine
from flex_provider.ledger import FlexLedger
from flex_provider.merchant.db import engine_for_conn
from tests.fixtures.postgres import _admin_connect

BUILDERS = {"ledger": lambda conn_id: FlexLedger(conn_id).engine, "merchant": engine_for_conn, "factory": sql_engine}


def test_conn_id_or_url() -> None:
    assert not is_url("flex_ledger_db")
    assert all(is_url(u) for u in ("sqlite://", "sqlite:///x.db", "postgresql+psycopg2://u@h/db"))


@pytest.mark.parametrize("who", sorted(BUILDERS))
def test_sqlalchemy_url_extra_wins_over_the_fields(who, tmp_path, monkeypatch) -> None:
    target = tmp_path / "real.db"
    conn = {"conn_type": "sqlite", "host": str(tmp_path / "not-this.db"),
            "extra": {"sqlalchemy_url": f"sqlite:///{target}"}}
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_ENGINE_URL", json.dumps(conn))
    engine = BUILDERS[who]("flex_engine_url")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    assert target.is_file()
    assert not (tmp_path / "not-this.db").exists()


@pytest.mark.parametrize("who", sorted(BUILDERS))
@pytest.mark.parametrize("host", ["file", "url"])
def test_sqlite_connection_host_is_the_file(who, host, tmp_path, monkeypatch) -> None:
    path = tmp_path / "merchant.db"
    conn = {"conn_type": "sqlite", "host": str(path) if host == "file" else f"sqlite:///{path}"}
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_ENGINE_SQLITE", json.dumps(conn))
    engine = BUILDERS[who]("flex_engine_sqlite")
    assert engine.url.database == str(path)
    assert engine.pool._pre_ping is True


def test_a_url_gets_pre_ping_and_the_callers_kwargs(tmp_path) -> None:
    engine = sql_engine(f"sqlite:///{tmp_path / 'x.db'}", echo=True)
    assert (engine.pool._pre_ping, engine.echo) == (True, True)
    assert sql_engine("sqlite://", pool_pre_ping=False).pool._pre_ping is False
    assert FlexLedger.from_url("sqlite://").engine.pool._pre_ping is True


def test_a_connection_that_is_not_sql_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_ENGINE_HTTP", json.dumps({"conn_type": "http", "host": "example.org"}))
    with pytest.raises(ValueError, match="not a SQL connection"):
        sql_engine("flex_engine_http")


@pytest.mark.parametrize("who", sorted(BUILDERS))
def test_postgres_pool_survives_a_server_side_disconnect(who, pg_conn_id) -> None:
    """A pooled connection the server dropped (restart, idle timeout) is replaced before use, not raised."""
    engine = BUILDERS[who](pg_conn_id)
    assert engine.url.drivername == "postgresql+psycopg2"
    with engine.connect() as c:
        pid = c.execute(text("SELECT pg_backend_pid()")).scalar()
    admin = _admin_connect()
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
            assert cur.fetchone()[0] is True
    finally:
        admin.close()
    with engine.connect() as c:
        assert c.execute(text("SELECT 1")).scalar() == 1
        assert c.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    engine.dispose()
