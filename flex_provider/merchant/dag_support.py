"""Light helpers the sample DAGs share: the business-day window, the local batch folder, file groups."""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from flex_provider.utc import utc_text


def batch_root() -> Path:
    """Local folder for batch files: ``$FLEX_BATCH_DIR``, else ``$AIRFLOW_HOME/flex_batches``."""
    root = os.environ.get("FLEX_BATCH_DIR")
    if root:
        return Path(root)
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return Path(home) / "flex_batches"


def business_window(context: Any, *, kind: str = "evaluate") -> dict[str, Any]:
    """
    The business day a run works on, and its UTC window ``[day 00:00, next day 00:00)``.

    Order of precedence: the ``business_date`` param (manual runs), the data interval start (scheduled
    and backfill runs of a ``CronDataIntervalTimetable``), the logical date, else yesterday (UTC) for a
    manual run without a logical date.
    """
    params = context.get("params") or {}
    raw = params.get("business_date")
    if raw:
        day = date.fromisoformat(str(raw)[:10])
        source = "param"
    else:
        start = context.get("data_interval_start") or context.get("logical_date")
        if start is not None:
            day = start.astimezone(timezone.utc).date()
            source = "data_interval"
        else:
            day = datetime.now(timezone.utc).date() - timedelta(days=1)
            source = "default_yesterday"
    start_dt = datetime.combine(day, time(), tzinfo=timezone.utc)
    end_dt = start_dt + timedelta(days=1)
    row_limit = params.get("row_limit")
    out_dir = batch_root() / kind / day.isoformat()
    return {
        "business_date": day.isoformat(),
        "yyyymmdd": day.strftime("%Y%m%d"),
        "window_start": utc_text(start_dt),
        "window_end": utc_text(end_dt),
        "source": source,
        "dry_run": bool(params.get("dry_run", False)),
        "row_limit": int(row_limit) if row_limit not in (None, "") else None,
        "out_dir": str(out_dir),
    }


def file_groups(names: list[str], tasks: int) -> list[list[str]]:
    """
    Split batch file names into exactly ``tasks`` groups (in order, sizes differing by at most one; some
    may be empty): one mapped ship task and one SSH session each.

    Always the same number of groups, never fewer: Airflow leaves a mapped task instance ``removed`` when a
    cleared run expands to fewer items and never revives it when a later clear expands to more again
    (apache/airflow#25531), which would leave a rerun's new files unshipped.
    """
    tasks = max(1, int(tasks))
    size, extra = divmod(len(names), tasks)
    groups, start = [], 0
    for i in range(tasks):
        end = start + size + (1 if i < extra else 0)
        groups.append(names[start:end])
        start = end
    return groups
