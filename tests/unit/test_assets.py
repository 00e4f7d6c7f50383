"""``flex_provider.assets``: one asset group with distinct names; asset events carry integer counts only.

That a real task run records those counts is checked in ``tests/ui/test_assets.py`` (an Airflow DAG run).
"""

from __future__ import annotations

from flex_provider.assets import ALL, GROUP, event_counts


def test_assets_are_one_group_with_distinct_names():
    assert len({a.name for a in ALL}) == len(ALL) == 6
    assert {a.group for a in ALL} == {GROUP}
    assert "flex_webhook_events" in {a.name for a in ALL}  # the reconcile DAG's watcher asset keeps its name


def test_event_counts_keep_integers_only():
    assert event_counts({"files": 2, "rows": 10, "dry_run": True, "ratio": 0.5, "name": "f"}) == {"files": 2, "rows": 10}


def test_watched_keeps_the_asset_identity():
    from airflow.sdk import AssetWatcher

    from flex_provider.assets import WEBHOOK_EVENTS, watched
    from flex_provider.triggers.webhook_events import FlexWebhookEventTrigger

    asset = watched(WEBHOOK_EVENTS, [AssetWatcher(name="w", trigger=FlexWebhookEventTrigger(conn_id="flex_ledger_db"))])
    assert (asset.name, asset.uri, asset.group) == (WEBHOOK_EVENTS.name, WEBHOOK_EVENTS.uri, GROUP)
    assert [w.name for w in asset.watchers] == ["w"]
