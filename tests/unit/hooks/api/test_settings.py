"""``flex_provider.hooks.api.settings``: the port completes the base URL; the webhook key is read back."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from flex_provider.hooks.api import FlexConnectionSettings


def _conn(host: str, port: int | None = None, **extra: str) -> Connection:
    return Connection(conn_id="flex_x", conn_type="flex", host=host, port=port, login="k", password="s",
                      extra=json.dumps(extra))


@pytest.mark.parametrize(
    ("host", "port", "base_url"),
    [
        ("https://api.flexfactor.io/v1", None, "https://api.flexfactor.io/v1"),
        ("https://api.flexfactor.io/v1", 443, "https://api.flexfactor.io:443/v1"),
        ("http://127.0.0.1:8765/v1", 8765, "http://127.0.0.1:8765/v1"),
        ("http://127.0.0.1/v1", 8765, "http://127.0.0.1:8765/v1"),
    ],
)
def test_the_port_matches_or_completes_the_base_url(host: str, port: int | None, base_url: str):
    assert FlexConnectionSettings.from_connection(_conn(host, port)).base_url == base_url


def test_a_port_contradicting_the_base_url_is_refused():
    with pytest.raises(ValueError, match="differs from the Base URL's port 8765"):
        FlexConnectionSettings.from_connection(_conn("http://127.0.0.1:8765/v1", 9000))


def test_the_webhook_key_is_read_from_the_new_name_then_the_old_one():
    assert FlexConnectionSettings.from_connection(_conn("http://h/v1", webhook_secret="NEW")).webhook_secret == "NEW"
    legacy = _conn("http://h/v1", webhook_subscriber_key="OLD")
    assert FlexConnectionSettings.from_connection(legacy).webhook_secret == "OLD"
