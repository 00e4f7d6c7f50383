"""
One business day's batch files against the ledger: what to rebuild, where numbering starts, what to resend.

:func:`write_day_files` is the write step of the daily flow without Airflow: files recorded but never
uploaded (a crash before the upload) are discarded and rebuilt; files Flex may have seen keep their
numbers and bytes, and the day's new rows go into files numbered after them; an order the ledger holds
in any file is rejected as ``already_shipped`` (a rerun never writes a shipped order again); the day's
files Flex rejected as a whole are listed for the ship step to send again. A dry run touches no ledger
record. :class:`~flex_provider.operators.extract.WriteBatchOperator` calls it; tests call it alike.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from flex_provider.batch.writer import BatchWriter

log = logging.getLogger(__name__)


def write_day_files(
    chunks: Iterable[Any],
    *,
    ledger: Any,
    kind: str,
    mid: str,
    business_date: date,
    out_dir: str | Path,
    rows_per_file: int = 2000,
    file_format: str = "json",
    expiry_days: int = 21,
    dry_run: bool = False,
) -> dict[str, Any]:
    """
    Write the day's files from ``chunks`` (Arrow tables or pandas DataFrames of the source columns).

    :param ledger: a :class:`~flex_provider.ledger.FlexLedger`.
    :param expiry_days: evaluate: days after the business date until the default ``expiryDateUtc``.
    :return: the writer's summary (``files``, ``manifest``, ``rejects_file``, counts...) plus
        ``first_file_number``, ``resend`` (files Flex rejected whole),
        ``business_date`` (ISO) and ``dry_run``.
    """
    discarded = [] if dry_run else ledger.discard_unshipped_files(mid, kind, business_date)
    if discarded:
        log.info("Rebuilding %d file(s) recorded but never uploaded: %s", len(discarded), discarded)
    first_number = ledger.next_file_number(mid, kind, business_date)
    writer = BatchWriter(
        kind=kind,  # type: ignore[arg-type]
        mid=mid,
        business_date=business_date,
        out_dir=str(out_dir),
        rows_per_file=rows_per_file,
        file_format=file_format,  # type: ignore[arg-type]
        default_expiry=timedelta(days=expiry_days + 1) if kind == "evaluate" else None,
        # Any recorded row counts, this day's included: a rerun never writes a shipped order again.
        already_shipped=lambda ids: ledger.already_shipped(mid, kind, ids),
        first_file_number=first_number,
    )
    summary = writer.write(chunks)
    summary["first_file_number"] = first_number
    summary["resend"] = [f["name"] for f in ledger.rejected_files(mid, kind, business_date)]
    summary["business_date"] = business_date.isoformat()
    summary["dry_run"] = dry_run
    return summary
