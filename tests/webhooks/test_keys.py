"""The webhook key lives under a name Airflow masks; the old name is still read and migrated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flex_provider.webhooks.keys import migrate_connections, migrate_extra, webhook_keys
from tests.dags.support import migrate_airflow_db


def test_the_new_names_are_masked_by_airflow_and_the_old_one_was_not():
    from airflow._shared.secrets_masker import redact, should_hide_value_for_key
    from airflow.settings import _configure_secrets_masker

    _configure_secrets_masker()
    assert should_hide_value_for_key("webhook_secret")
    assert should_hide_value_for_key("webhook_secrets")
    assert not should_hide_value_for_key("webhook_subscriber_key")  # the leak the rename fixes
    extra = {"mid": "m-1", "webhook_secret": "c2VjcmV0LWtleS12YWx1ZQ=="}
    assert redact(extra) == {"mid": "m-1", "webhook_secret": "***"}


def test_keys_are_read_from_new_and_legacy_names_in_order_without_duplicates():
    extra = {
        "webhook_secret": "new",
        "webhook_secrets": "rot1, new,rot2",
        "webhook_subscriber_key": "old",
        "webhook_subscriber_keys": ["old", "older"],
    }
    assert webhook_keys(extra) == ["new", "rot1", "rot2", "old", "older"]
    assert webhook_keys({"webhook_subscriber_key": "old"}) == ["old"]
    assert webhook_keys({"webhook_secret": ""}) == []


def test_migrate_extra_renames_once_and_keeps_a_new_value():
    out, changed = migrate_extra({"mid": "m", "webhook_subscriber_key": "k", "webhook_subscriber_keys": ["a"]})
    assert changed
    assert out == {"mid": "m", "webhook_secret": "k", "webhook_secrets": ["a"]}
    again, changed_again = migrate_extra(out)
    assert (again, changed_again) == (out, False)
    both, _ = migrate_extra({"webhook_secret": "new", "webhook_subscriber_key": "stale"})
    assert both == {"webhook_secret": "new"}


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
