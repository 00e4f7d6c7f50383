"""Airflow plugin that mounts the Flex webhook receiver in the api-server at ``/flex``.

Registered through the ``airflow.plugins`` entry point. Settings come from Airflow, read on the first
request (so the api-server starts even when the connection is missing; the receiver then answers 503
and retries the lookup every few seconds):

* ``[flex] webhook_conn_id`` (default ``flex_default``): the Flex connection; its extra
  ``webhook_secret`` (base64) and optional ``webhook_secrets`` (list or comma-separated, for rotation)
  are the HMAC keys (the old names ``webhook_subscriber_key(s)`` are still read, see
  :mod:`flex_provider.webhooks.keys`).
* ``[flex] webhook_db_url`` (a SQLAlchemy URL) or else ``[flex] ledger_conn_id``: where events are stored.
* ``[flex] webhook_tolerance_seconds`` (300), ``webhook_max_body_bytes`` (65536),
  ``webhook_public_hosts`` (comma-separated Host allow-list, optional).
* Optional asset-event push: ``webhook_notify_asset`` (asset name), ``webhook_notify_api_url``,
  ``webhook_notify_username`` / ``webhook_notify_password``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from flex_provider.timetables import FlexDailyTimetable
from flex_provider.ui.app import create_ui_app, sources_from_airflow
from flex_provider.webhooks.app import AirflowAssetNotify, WebhookSettings, create_app
from flex_provider.webhooks.keys import WEBHOOK_SECRET, webhook_keys
from flex_provider.webhooks.store import get_airflow_connection


def settings_from_airflow() -> WebhookSettings:
    """Build :class:`WebhookSettings` from Airflow config and connections (raises if incomplete)."""
    from airflow.configuration import conf

    conn_id = conf.get("flex", "webhook_conn_id", fallback="flex_default")
    conn = get_airflow_connection(conn_id)
    keys = webhook_keys(conn.extra_dejson or {})
    if not keys:
        raise ValueError(f"connection {conn_id!r} has no extra {WEBHOOK_SECRET!r}")
    db_url = conf.get("flex", "webhook_db_url", fallback=None) or None
    ledger = conf.get("flex", "ledger_conn_id", fallback=None) or None
    if not db_url and not ledger:
        raise ValueError("set [flex] ledger_conn_id (or [flex] webhook_db_url) for the webhook event store")
    hosts = conf.get("flex", "webhook_public_hosts", fallback="") or ""
    notify = None
    asset = conf.get("flex", "webhook_notify_asset", fallback=None)
    if asset:
        notify = AirflowAssetNotify(
            api_url=conf.get("flex", "webhook_notify_api_url", fallback="http://127.0.0.1:8080"),
            asset_name=asset,
            username=conf.get("flex", "webhook_notify_username", fallback=None),
            password=conf.get("flex", "webhook_notify_password", fallback=None),
        )
    return WebhookSettings(
        subscriber_keys=keys,
        db_url=db_url,
        db_conn_id=None if db_url else ledger,
        tolerance_seconds=conf.getint("flex", "webhook_tolerance_seconds", fallback=300),
        max_body_bytes=conf.getint("flex", "webhook_max_body_bytes", fallback=64 * 1024),
        public_hosts=[h.strip() for h in hosts.split(",") if h.strip()] or None,
        asset_notify=notify,
    )


class FlexWebhookPlugin(AirflowPlugin):
    """Mounts the receiver (``/flex``) and the Flex view (``/flex-ui``), with a nav entry for the view.

    The view is an Airflow 3 ``external_views`` entry: the UI lists it in the navigation and shows
    ``/flex-ui/`` in an iframe at ``/plugin/flex``. The view's app checks the caller's Airflow login
    itself (:func:`flex_provider.ui.app.airflow_viewer`), since plugin apps are mounted without auth.
    """

    name = "flex"
    timetables: ClassVar[list[type]] = [FlexDailyTimetable]  # custom timetables must come from a plugin
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": create_app(settings_from_airflow), "url_prefix": "/flex", "name": "Flex webhooks"},
        {"app": create_ui_app(sources_from_airflow), "url_prefix": "/flex-ui", "name": "Flex view"},
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "Flex recovery",
            "href": "/flex-ui/",
            "url_route": "flex",
            "destination": "nav",
            "nav_top_level": True,
            "icon": "/flex-ui/icon.svg",
        },
    ]
