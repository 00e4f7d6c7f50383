"""
What a ship task uploads, and what a day's shipment leaves in the ledger.

:func:`plan_shipment` reads the manifest the write step left and the ledger, and returns one
:class:`~flex_provider.batch.upload.ShipPlan` a file to upload, plus what it skips and why. A file the
ledger says is uploaded or acknowledged is skipped (a rerun ships nothing twice); a file Flex rejected
as a whole is sent again byte for byte (the sha256 recorded at its first upload must match); every
other file is recorded in the ledger, file and rows, just before its upload. :func:`record_shipment`
then appends the day's facts: ``shipped`` events of every file Flex may have received and
``rejected_local`` events of the writer's rejects. No Airflow here: the operators
(:class:`~flex_provider.operators.ship.ShipBatchOperator`, ``RecordShipmentOperator``) and tests call
them alike.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flex_provider.batch.manifest import iter_batch_rows, read_ledger_rows, read_manifest
from flex_provider.batch.upload import ShipPlan
from flex_provider.digest import sha256_file
from flex_provider.ledger.events import rejected_events
from flex_provider.ledger.schema import SHIPPED_STATES
from flex_provider.models.batch import Manifest
from flex_provider.models.limits import ORDER_ID_MAX


class ShipmentError(ValueError):
    """The files asked for cannot be shipped as they are (missing, or not the bytes Flex rejected)."""


@dataclass
class Shipment:
    """The plans of one ship task, in upload order, and what it leaves alone."""

    manifest: Manifest
    plans: list[ShipPlan] = field(default_factory=list)
    resend: list[str] = field(default_factory=list)  # rejected by Flex, sent again
    skipped: list[str] = field(default_factory=list)  # already uploaded or acknowledged
    rejections: dict[str, str] = field(default_factory=dict)  # resent file -> Flex's error


def plan_shipment(manifest_path: str | Path, ledger: Any, files: Sequence[str] | None = None) -> Shipment:
    """
    Plan the upload of ``files`` (default: every file of the manifest, then the day's other files Flex
    rejected) against the ledger's records.

    :param ledger: a :class:`~flex_provider.ledger.FlexLedger`.
    :raises ShipmentError: a file is neither in the manifest nor rejected by Flex, or a rejected file's
        bytes are missing or differ from what the ledger recorded.
    """
    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    rejected = {f["name"]: f for f in ledger.rejected_files(manifest.mid, manifest.kind, manifest.business_date)}
    by_name = {e.name: e for e in manifest.files}
    wanted = list(files) if files is not None else [*by_name, *sorted(set(rejected) - set(by_name))]
    missing = sorted(n for n in wanted if n not in by_name and n not in rejected)
    if missing:
        raise ShipmentError(f"Files neither in {manifest_path.name} nor rejected by Flex: {missing}")
    # One query for the day's file states instead of one a file.
    states = {
        f["name"]: f["state"] for f in ledger.files_for_day(manifest.mid, manifest.kind, manifest.business_date)
    }
    shipment = Shipment(manifest=manifest)
    for name in wanted:
        path = manifest_path.parent / name
        if name in rejected:
            record = rejected[name]
            if not path.is_file() or sha256_file(path) != record["sha256"]:
                raise ShipmentError(
                    f"{name} was rejected by Flex ({record['ack_error']}) and must be uploaded again, but "
                    f"{path} is missing or differs from the file recorded in the ledger"
                )
            shipment.resend.append(name)
            shipment.rejections[name] = str(record["ack_error"])
            shipment.plans.append(ShipPlan(name, path, int(record["rows"]), resend=True))
        elif states.get(name) in ("uploaded", "acknowledged"):
            shipment.skipped.append(name)
        else:
            shipment.plans.append(
                ShipPlan(name, path, by_name[name].rows, record=_recorder(ledger, manifest, name, path))
            )
    return shipment


def _recorder(ledger: Any, manifest: Manifest, name: str, path: Path) -> Callable[[], bool]:
    """Record one file and its rows in the ledger; False when a concurrent run uploaded it meanwhile."""
    entry = next(e for e in manifest.files if e.name == name)

    def record() -> bool:
        state = ledger.record_file(
            name,
            business_date=manifest.business_date,
            kind=manifest.kind,
            mid=manifest.mid,
            rows=entry.rows,
            sha256=entry.sha256,
            rows_sha256=entry.rows_sha256,
        )
        if state != "written":  # uploaded meanwhile by a concurrent run
            return False
        # The writer's sidecar (checked against the file's sha256) spares re-parsing every row.
        rows_of_file = read_ledger_rows(path, entry.sha256)
        ledger.record_rows(name, rows_of_file if rows_of_file is not None else iter_batch_rows(path))
        return True

    return record


def read_rejects(path: Path) -> Iterator[tuple[str, str]]:
    """
    (order id, whole reason) of the writer's rejects CSV (columns ``order_id``, ``reason``). A row with no
    order id, or one longer than the ledger holds (``too_long:order_id``), names no order the ledger can
    keep a state for: its reason stays in the rejects CSV only.
    """
    if not path.exists():
        return
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            order_id = row.get("order_id") or ""
            if order_id and len(order_id) <= ORDER_ID_MAX:
                yield order_id, row.get("reason") or ""


def record_shipment(manifest_path: str | Path, ledger: Any) -> dict[str, Any]:
    """
    Append the facts of the manifest's day to the ledger, once whatever the reruns: ``shipped`` events of
    every row of the day's files Flex may have received (uploaded or acknowledged: the upload record
    appended them already, this catches up a crash in between or a ledger older than the events), and
    ``rejected_local`` events of the rejects CSV beside the manifest, with the writer's whole reason.
    Transmit files carry no order state: nothing is appended for them.
    """
    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    day_files = ledger.files_for_day(manifest.mid, manifest.kind, manifest.business_date, states=SHIPPED_STATES)
    names = sorted({e.name for e in manifest.files} | {f["name"] for f in day_files})
    shipped = rejected = 0
    if manifest.kind == "evaluate":
        shipped = ledger.record_shipped(names)
        rejects = read_rejects(manifest_path.parent / manifest.rejects_file)
        rejected = ledger.append_events(rejected_events(manifest.mid, manifest.business_date, rejects))
    return {
        "business_date": manifest.business_date.isoformat(),
        "files": len(names),
        "shipped_events": shipped,
        "reject_events": rejected,
    }
