"""
Ship a run's files as a pipeline: the ledger records file k+1 while file k is on the wire.

Each file is recorded in the ledger (file and rows) before it is handed to the uploader, and marked
uploaded as soon as its upload is confirmed (size checked, renamed), so the ledger never says
``uploaded`` for a file Flex may not have, and a crash between the two leaves a ``written`` file the
next run uploads again (the server-side size check makes that a no-op when it had landed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flex_provider.hooks.sftp import FlexSftpHook, UploadResult


@dataclass
class ShipPlan:
    """One file to ship: ``record`` (None for a resend) runs before it is handed to the uploader."""

    name: str
    path: Path
    rows: int
    resend: bool = False
    record: Callable[[], bool] | None = None  # returns False when the file needs no upload after all


@dataclass
class ShipOutcome:
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rows: int = 0


def ship_pipelined(
    plans: Iterable[ShipPlan],
    *,
    hook: FlexSftpHook,
    ledger: Any,
    transform_first_line: Callable[[str], str],
    channels: int = 4,
) -> ShipOutcome:
    """
    Record, upload and mark every file of ``plans`` with ``channels`` uploads in flight.

    :param ledger: a :class:`~flex_provider.batch.ledger.FlexLedger` (``mark_uploaded`` /
        ``mark_reuploaded``).
    """
    outcome = ShipOutcome()
    by_name: dict[str, ShipPlan] = {}

    def land(result: UploadResult) -> None:
        plan = by_name[result.name]
        if plan.resend:
            ledger.mark_reuploaded(result.name, result.size, result.sha256)
        else:
            ledger.mark_uploaded(result.name, result.size, result.sha256)
        if result.status == "uploaded":
            outcome.uploaded.append(result.name)
            outcome.rows += plan.rows
        else:
            outcome.skipped.append(result.name)

    with hook.open_uploader(channels=channels, transform_first_line=transform_first_line) as uploader:
        for plan in plans:
            if plan.record is not None and not plan.record():
                outcome.skipped.append(plan.name)
                continue
            by_name[plan.name] = plan
            uploader.submit(plan.path)
            for result in uploader.finished():
                land(result)
        for result in uploader.wait_all():
            land(result)
    return outcome
