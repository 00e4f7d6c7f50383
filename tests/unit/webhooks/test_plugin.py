"""``flex_provider.webhooks.plugin``: the receiver's settings come from ``[flex]`` config and the Flex connection.

Airflow's own config and connection lookup, fed through its environment variables (``AIRFLOW__FLEX__*``,
``AIRFLOW_CONN_*``): no Airflow server is needed to read them.
"""

from __future__ import annotations

import base64
import json

import pytest

from flex_provider.webhooks.plugin import FlexWebhookPlugin, settings_from_airflow

KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()


@pytest.fixture
def flex_conn(monkeypatch: pytest.MonkeyPatch):
    def set_extra(extra: dict) -> None:
        conn = {"conn_type": "flex", "host": "http://127.0.0.1:1/v1", "login": "k", "password": "s", "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_FLEX_PLUGIN_TEST", json.dumps(conn))

    monkeypatch.setenv("AIRFLOW__FLEX__WEBHOOK_CONN_ID", "flex_plugin_test")
    for name in ("WEBHOOK_DB_URL", "LEDGER_CONN_ID", "WEBHOOK_PUBLIC_HOSTS", "WEBHOOK_NOTIFY_ASSET"):
        monkeypatch.delenv(f"AIRFLOW__FLEX__{name}", raising=False)
    return set_extra


def test_keys_store_and_limits_come_from_airflow(flex_conn, monkeypatch: pytest.MonkeyPatch) -> None:
    flex_conn({"webhook_secret": KEY_A, "webhook_secrets": [KEY_B]})
    monkeypatch.setenv("AIRFLOW__FLEX__LEDGER_CONN_ID", "flex_ledger_db")
    monkeypatch.setenv("AIRFLOW__FLEX__WEBHOOK_TOLERANCE_SECONDS", "120")
    monkeypatch.setenv("AIRFLOW__FLEX__WEBHOOK_PUBLIC_HOSTS", " hooks.example:8443, , other.example ")
    s = settings_from_airflow()
    assert [k.get_secret_value() for k in s.subscriber_keys] == [KEY_A, KEY_B]  # the rotation order kept
    assert (s.db_conn_id, s.db_url, s.tolerance_seconds, s.max_body_bytes) == ("flex_ledger_db", None, 120, 65536)
    assert s.public_hosts == ["hooks.example:8443", "other.example"]
    assert s.asset_notify is None


def test_a_db_url_wins_over_the_ledger_connection(flex_conn, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    flex_conn({"webhook_subscriber_key": KEY_A})  # the old name is still read
    monkeypatch.setenv("AIRFLOW__FLEX__LEDGER_CONN_ID", "flex_ledger_db")
    monkeypatch.setenv("AIRFLOW__FLEX__WEBHOOK_DB_URL", f"sqlite:///{tmp_path / 'events.db'}")
    s = settings_from_airflow()
    assert (s.db_url.get_secret_value(), s.db_conn_id) == (f"sqlite:///{tmp_path / 'events.db'}", None)
    assert [k.get_secret_value() for k in s.subscriber_keys] == [KEY_A]


def test_missing_key_or_store_is_refused_with_what_to_set(flex_conn, monkeypatch: pytest.MonkeyPatch) -> None:
    flex_conn({"mid": "m"})
    monkeypatch.setenv("AIRFLOW__FLEX__LEDGER_CONN_ID", "flex_ledger_db")
    with pytest.raises(ValueError, match="has no extra 'webhook_secret'"):
        settings_from_airflow()
    flex_conn({"webhook_secret": KEY_A})
    monkeypatch.delenv("AIRFLOW__FLEX__LEDGER_CONN_ID")
    with pytest.raises(ValueError, match=r"set \[flex\] ledger_conn_id"):
        settings_from_airflow()


def test_the_plugin_mounts_the_receiver_and_the_view() -> None:
    assert [(a["url_prefix"], a["name"]) for a in FlexWebhookPlugin.fastapi_apps] == [
        ("/flex", "Flex webhooks"), ("/flex-ui", "Flex view")]
    assert FlexWebhookPlugin.external_views[0]["href"] == "/flex-ui/"
