"""The webhook key extra renamed in Airflow's metadata DB, by function and by CLI; the pure parts: tests/unit/webhooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flex_provider.webhooks.keys import migrate_connections
from tests.dags.support import migrate_airflow_db


def test_migrate_connections_renames_the_extra_in_airflows_metadata_db():
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    migrate_airflow_db()
    with create_session() as session:
        for conn_id in ("flex_mig_a", "flex_mig_b", "http_mig"):
            session.query(Connection).filter(Connection.conn_id == conn_id).delete()
        session.add(Connection(conn_id="flex_mig_a", conn_type="flex", login="k", password="s",
                               extra=json.dumps({"mid": "m", "webhook_subscriber_key": "S0VZLWE="})))
        session.add(Connection(conn_id="flex_mig_b", conn_type="flex", login="k", password="s",
                               extra=json.dumps({"webhook_secret": "S0VZLWI="})))
        session.add(Connection(conn_id="http_mig", conn_type="http",
                               extra=json.dumps({"webhook_subscriber_key": "untouched"})))

    assert migrate_connections(dry_run=True) == ["flex_mig_a"]
    with create_session() as session:
        a = session.query(Connection).filter(Connection.conn_id == "flex_mig_a").one()
        assert "webhook_subscriber_key" in a.extra_dejson  # dry run changed nothing

    assert migrate_connections() == ["flex_mig_a"]
    assert migrate_connections() == []  # a rerun is a no-op
    with create_session() as session:
        rows = {c.conn_id: c.extra_dejson for c in session.query(Connection).filter(
            Connection.conn_id.in_(["flex_mig_a", "flex_mig_b", "http_mig"]))}
    assert rows["flex_mig_a"] == {"mid": "m", "webhook_secret": "S0VZLWE="}
    assert rows["flex_mig_b"] == {"webhook_secret": "S0VZLWI="}
    assert rows["http_mig"] == {"webhook_subscriber_key": "untouched"}


def test_migrate_cli_renames_a_stored_connection():
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    migrate_airflow_db()
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == "flex_mig_cli").delete()
        session.add(Connection(conn_id="flex_mig_cli", conn_type="flex",
                               extra=json.dumps({"webhook_subscriber_key": "Q0xJLUtFWQ=="})))
    from airflow.configuration import conf

    env = {**os.environ, "AIRFLOW__CORE__FERNET_KEY": conf.get("core", "fernet_key")}  # this process's key
    out = subprocess.run([sys.executable, "-m", "flex_provider.webhooks.keys", "migrate"], env=env,
                         capture_output=True, text=True, timeout=120, check=True, cwd=Path(__file__).parents[2])
    assert "renamed the webhook key extra in 1 connection(s): flex_mig_cli" in out.stdout
    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == "flex_mig_cli").one()
        assert conn.extra_dejson == {"webhook_secret": "Q0xJLUtFWQ=="}
