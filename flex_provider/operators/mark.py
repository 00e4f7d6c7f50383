"""Record a day's shipment in the ledger: the rows Flex may have received, and the rows rejected locally."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from flex_provider.operators.common import LEDGER_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context


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
        from flex_provider.batch.shipment import record_shipment
        from flex_provider.ledger import FlexLedger

        ledger = FlexLedger(self.ledger_conn_id)
        try:
            out = record_shipment(self.manifest, ledger)
        finally:
            ledger.engine.dispose()
        self.log.info("Recorded the shipment: %s", out)
        return out
