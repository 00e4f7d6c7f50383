"""
Ship a run's files as a pipeline: the ledger records file k+1 while file k is on the wire.

Each file is recorded in the ledger (file and rows) before it is handed to the uploader, and marked
uploaded as soon as its upload is confirmed (size checked, renamed), so the ledger never says
``uploaded`` for a file Flex may not have, and a crash between the two leaves a ``written`` file the
next run uploads again (the server-side size check makes that a no-op when it had landed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flex_provider.hooks.sftp import FlexSftpHook, UploadResult


#: Ledger calls in flight at once on a server database (each waits on a round trip or a commit).
RECORD_WORKERS = 8


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
    lock = threading.Lock()

    def land(result: UploadResult) -> None:
        plan = by_name[result.name]
        if plan.resend:
            ledger.mark_reuploaded(result.name, result.size, result.sha256)
        else:
            ledger.mark_uploaded(result.name, result.size, result.sha256)
        with lock:
            if result.status == "uploaded":
                outcome.uploaded.append(result.name)
                outcome.rows += plan.rows
            else:
                outcome.skipped.append(result.name)

    # Recording and marking are a few round trips and a commit a file: on a server database several
    # files are recorded (and marked) at once; SQLite takes one writer at a time, so one by one there.
    engine = getattr(ledger, "engine", None)
    workers = 1 if engine is None or engine.dialect.name == "sqlite" else RECORD_WORKERS
    with (
        hook.open_uploader(channels=channels, transform_first_line=transform_first_line) as uploader,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flex-ledger") as pool,
    ):
        recording: dict[Future[bool], ShipPlan] = {}
        marking: list[Future[None]] = []
        for plan in plans:
            by_name[plan.name] = plan
            if plan.record is None:
                uploader.submit(plan.path)
            else:
                recording[pool.submit(plan.record)] = plan
        for done in as_completed(recording):
            plan = recording[done]
            if done.result():
                uploader.submit(plan.path)
            else:
                with lock:
                    outcome.skipped.append(plan.name)
            marking += [pool.submit(land, r) for r in uploader.finished()]
        marking += [pool.submit(land, r) for r in uploader.wait_all()]
        for mark in marking:
            mark.result()
    outcome.uploaded.sort()
    outcome.skipped.sort()
    return outcome
