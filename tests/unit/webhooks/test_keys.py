"""The webhook key lives under a name Airflow masks; the old name is still read and migrated."""

from __future__ import annotations

from flex_provider.webhooks.keys import migrate_extra, webhook_keys


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
