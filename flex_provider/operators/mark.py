"""Record a day's shipment in the ledger: the rows Flex may have received, and the rows rejected locally."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from flex_provider.operators.common import LEDGER_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context


def read_rejects(path: Path) -> Iterator[tuple[str, str]]:
    """(order id, whole reason) of the writer's rejects CSV (columns ``order_id``, ``reason``)."""
    import csv

    if not path.exists():
        return
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("order_id"):
                yield row["order_id"], row.get("reason") or ""


class RecordShipmentOperator(BaseOperator):
    """
    Append the facts of a day's shipment to the ledger (it writes nothing to the merchant DB).

    * ``shipped`` events of every row of the day's files Flex may have received (uploaded or
      acknowledged; the upload record already appended them, this catches up a crash in between or a
      ledger older than the events),
    * ``rejected_local`` events from the rejects CSV next to the manifest, with the writer's whole reason
      (``missing:<field>``, ``invalid_amount``, ``pan_detected:<field>`` ...).

    Both are stored once whatever the reruns; the projection then writes the merchant rows.

    :param manifest: manifest path (templated).
    :param ledger_conn_id: SQL connection of the ledger.
    """

    template_fields: Sequence[str] = ("manifest", "ledger_conn_id")
    ui_color = "#fef9e7"

    def __init__(self, *, manifest: str, ledger_conn_id: str = LEDGER_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.ledger_conn_id = ledger_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from flex_provider.batch.writer import read_manifest
        from flex_provider.ledger import SHIPPED_STATES, FlexLedger
        from flex_provider.ledger.events import rejected_events

        manifest_path = Path(self.manifest)
        manifest = read_manifest(manifest_path)
        ledger = FlexLedger(self.ledger_conn_id)
        try:
            names = sorted(
                {e.name for e in manifest.files}
                | {
                    f["name"]
                    for f in ledger.files_for_day(
                        manifest.mid, manifest.kind, manifest.business_date, states=SHIPPED_STATES
                    )
                }
            )
            shipped = ledger.record_shipped(names) if manifest.kind == "evaluate" else 0
            rejects = rejected_events(
                manifest.mid, manifest.business_date, read_rejects(manifest_path.parent / manifest.rejects_file)
            )
            rejected = ledger.append_events(rejects) if manifest.kind == "evaluate" else 0
        finally:
            ledger.engine.dispose()
        out = {
            "business_date": manifest.business_date.isoformat(),
            "files": len(names),
            "shipped_events": shipped,
            "reject_events": rejected,
        }
        self.log.info("Recorded the shipment: %s", out)
        return out
