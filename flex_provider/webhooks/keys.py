"""
Where a ``flex`` connection keeps the webhook subscriber key(s), and the rename of the old extra names.

Airflow masks a connection extra by its *name* (``should_hide_value_for_key``: any name containing one
of ``[core] sensitive_var_conn_names`` or the defaults such as ``secret``, ``password``, ``token``).
The old names ``webhook_subscriber_key`` / ``webhook_subscriber_keys`` match none of them, so the key
came back in clear text from ``GET /api/v2/connections`` and in the edit form. The extras are now
``webhook_secret`` (one base64 key) and ``webhook_secrets`` (rotation: a list or comma-separated string);
both contain ``secret`` and are masked. Readers still accept the old names; ``python -m
flex_provider.webhooks.keys migrate`` renames them in the connections stored in Airflow's metadata DB.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from typing import Any

WEBHOOK_SECRET = "webhook_secret"
WEBHOOK_SECRETS = "webhook_secrets"
#: old name -> new name
LEGACY_NAMES: dict[str, str] = {
    "webhook_subscriber_key": WEBHOOK_SECRET,
    "webhook_subscriber_keys": WEBHOOK_SECRETS,
}


def webhook_keys(extra: Mapping[str, Any]) -> list[str]:
    """Every subscriber key an extra holds (new names first, then the legacy ones), without duplicates."""
    keys: list[str] = []
    for single, many in ((WEBHOOK_SECRET, WEBHOOK_SECRETS), tuple(LEGACY_NAMES)):
        values: list[Any] = [extra.get(single)]
        listed = extra.get(many)
        if isinstance(listed, str):
            listed = [p.strip() for p in listed.split(",")]
        values.extend(listed or [])
        for value in values:
            if value not in (None, "") and str(value) not in keys:
                keys.append(str(value))
    return keys


def migrate_extra(extra: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """
    Return ``extra`` with the legacy names renamed, and whether anything changed.

    When both an old and a new name are present the new value wins and the old one is dropped, so a
    rerun is a no-op.
    """
    out = dict(extra)
    changed = False
    for old, new in LEGACY_NAMES.items():
        if old in out:
            value = out.pop(old)
            out.setdefault(new, value)
            changed = True
    return out, changed


def migrate_connections(conn_type: str = "flex", *, dry_run: bool = False) -> list[str]:
    """
    Rename the legacy extras in every connection of ``conn_type`` in Airflow's metadata DB.

    Returns the ids of the connections that were (or, with ``dry_run``, would be) changed. Connections
    from environment variables or a secrets backend are not touched: change them where they live.
    """
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    changed_ids: list[str] = []
    with create_session() as session:
        for conn in session.scalars(select(Connection).where(Connection.conn_type == conn_type)):
            try:
                extra = json.loads(conn.extra or "{}")
            except ValueError:
                continue
            if not isinstance(extra, dict):
                continue
            new_extra, changed = migrate_extra(extra)
            if changed:
                changed_ids.append(conn.conn_id)
                if not dry_run:
                    conn.set_extra(json.dumps(new_extra))
        if dry_run:
            session.rollback()
    return changed_ids


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flex_provider.webhooks.keys migrate [--dry-run]``."""
    parser = argparse.ArgumentParser(prog="python -m flex_provider.webhooks.keys", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    mig = sub.add_parser("migrate", help="rename webhook_subscriber_key(s) to webhook_secret(s)")
    mig.add_argument("--conn-type", default="flex")
    mig.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    ids = migrate_connections(args.conn_type, dry_run=args.dry_run)
    verb = "would rename" if args.dry_run else "renamed"
    print(f"{verb} the webhook key extra in {len(ids)} connection(s): {', '.join(ids) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
