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


def mark_landed(ledger: Any, results: Iterable[UploadResult], is_resend: Callable[[str], bool]) -> None:
    """
    Mark landed uploads in the ledger: the fresh ones in one transaction (their rows' ``shipped``
    events with them), each file sent again after Flex rejected it on its own.
    """
    from flex_provider.ledger.files import UploadMark

    results = list(results)
    ledger.mark_uploaded_many([UploadMark(r.name, r.size, r.sha256) for r in results if not is_resend(r.name)])
    for r in results:
        if is_resend(r.name):
            ledger.mark_reuploaded(r.name, r.size, r.sha256)


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

    :param ledger: a :class:`~flex_provider.batch.ledger.FlexLedger` (``mark_uploaded_many`` /
        ``mark_reuploaded``).
    """
    outcome = ShipOutcome()
    by_name: dict[str, ShipPlan] = {}
    lock = threading.Lock()
    landed: list[UploadResult] = []  # uploads confirmed and not marked yet
    draining = [False]

    def mark(results: list[UploadResult]) -> None:
        """One ledger transaction for every fresh upload in ``results`` (a resend is marked on its own)."""
        mark_landed(ledger, results, lambda name: by_name[name].resend)
        with lock:
            for r in results:
                if r.status == "uploaded":
                    outcome.uploaded.append(r.name)
                    outcome.rows += by_name[r.name].rows
                else:
                    outcome.skipped.append(r.name)

    def drain() -> None:
        """The marker: every upload landed since its last turn, marked together, until none is left."""
        while True:
            with lock:
                batch = landed[:]
                landed.clear()
                if not batch:
                    draining[0] = False
                    return
            mark(batch)

    def hand_over(results: Iterable[UploadResult]) -> Future[None] | None:
        results = list(results)
        with lock:
            landed.extend(results)
            if not results or draining[0]:
                return None
            draining[0] = True
        return marker.submit(drain)

    # Recording is a few round trips and a commit a file: on a server database several files are
    # recorded at once; SQLite takes one writer at a time, so one by one there. Marking appends events
    # under the ledger's append lock, one transaction at a time anyway: one marker takes every upload
    # landed since its last turn into one transaction (500 files at 1,000,000 rows: 500 appends queued
    # on the lock, one a file, took 84-104 s of a ship task here).
    engine = getattr(ledger, "engine", None)
    workers = 1 if engine is None or engine.dialect.name == "sqlite" else RECORD_WORKERS
    with (
        hook.open_uploader(channels=channels, transform_first_line=transform_first_line) as uploader,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flex-ledger") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="flex-mark") as marker,
    ):
        recording: dict[Future[bool], ShipPlan] = {}
        marking: list[Future[None] | None] = []
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
            marking.append(hand_over(uploader.finished()))
        marking.append(hand_over(uploader.wait_all()))
        for job in marking:
            if job is not None:
                job.result()
    outcome.uploaded.sort()
    outcome.skipped.sort()
    return outcome
