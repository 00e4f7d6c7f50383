"""
What the batch operators share: the default connection ids (defined in :mod:`flex_provider`) and
small parsers.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

from airflow.sdk.exceptions import AirflowFailException

from flex_provider import FLEX_CONN_ID, LEDGER_CONN_ID, MERCHANT_CONN_ID, SFTP_CONN_ID

__all__ = [
    "FLEX_CONN_ID",
    "LEDGER_CONN_ID",
    "MERCHANT_CONN_ID",
    "SFTP_CONN_ID",
    "as_date",
    "read_sql",
    "resolve_mid",
]


def as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def resolve_mid(mid: str | None, flex_conn_id: str) -> str:
    if mid:
        return mid
    from flex_provider.hooks.api import FlexApiHook

    found = FlexApiHook(flex_conn_id).settings.mid
    if not found:
        raise AirflowFailException(f"No mid given and connection {flex_conn_id!r} has no 'mid' extra")
    return found


def read_sql(sql: str) -> str:
    """
    The operator's ``sql`` without comments (so ``:name`` in a comment is no bind parameter).

    ``sql`` is rendered text, or the path of a file that was not templated (an absolute path).
    """
    import sqlparse

    if sql.strip().endswith(".sql") and "\n" not in sql.strip() and os.path.isfile(sql.strip()):
        sql = Path(sql.strip()).read_text(encoding="utf-8")
    return sqlparse.format(sql, strip_comments=True).strip()


# Former private names, kept for callers of flex_provider.operators.batch.
_as_date = as_date
_mid = resolve_mid
_read_sql = read_sql
