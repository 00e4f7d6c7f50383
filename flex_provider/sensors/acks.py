"""Sensor that waits for Flex's acknowledgements of the files a run uploaded (from the ledger)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import conf
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from flex_provider.operators.common import LEDGER_CONN_ID
from flex_provider.sensors.outbound import FlexOutboundFileSensor

if TYPE_CHECKING:
    from airflow.sdk import Context

    from flex_provider.batch.ledger import FlexLedger
    from flex_provider.models.batch import Manifest

#: Ledger states of a file that reached Flex's inbound folder.
SHIPPED = ("uploaded", "acknowledged")


def awaited_acks(ledger: FlexLedger, manifest: Manifest, *, dag_id: str = "the DAG") -> list[str]:
    """
    Names of the acks to wait for: one per file of the manifest's day uploaded and not acknowledged yet.

    Asks the ledger, not the ship tasks' XComs (a cleared run keeps the XCom of a map index that no longer
    exists). Raises :class:`AirflowFailException` when a file the manifest lists was not shipped (e.g. a
    ship task instance Airflow left ``removed``, apache/airflow#25531): the run fails instead of going
    green with rows never sent.
    """
    from flex_provider.batch import ack_name

    day = manifest.business_date
    files = ledger.files_for_day(manifest.mid, manifest.kind, day)
    state = {f["name"]: f["state"] for f in files}
    unshipped = [e.name for e in manifest.files if state.get(e.name) not in SHIPPED]
    if unshipped:
        raise AirflowFailException(
            f"{len(unshipped)} batch file(s) of {day} were written but not shipped: {unshipped}. Nothing "
            f"was lost (the ledger never saw them uploaded): trigger {dag_id} with business_date={day} to "
            "ship them."
        )
    return [ack_name(name) for name in sorted(n for n, s in state.items() if s == "uploaded")]


class FlexAckSensor(FlexOutboundFileSensor):
    """
    Wait until Flex acknowledged every file of a manifest's day that is uploaded and not acknowledged yet.

    The names come from the ledger when the task runs, so a rerun that uploaded nothing skips this task
    (and what depends on it). Fails at once when a file of the manifest was written but not shipped.
    Returns the ack files as :class:`FlexOutboundFileSensor` does (``[{"name", "size", "mtime"}]``),
    for :class:`~flex_provider.operators.acks.ProcessAcksOperator`.

    :param manifest: path of the manifest the extract step wrote (templated; ``extract.output["manifest"]``).
    :param ledger_conn_id: SQL connection of the ledger.
    :param poke_interval: seconds between listings (default: ``[flex] ack_poke_interval``).
    :param timeout: seconds to wait for all acks (default: ``[flex] ack_timeout``).
    :param settle_interval: seconds between the two listings that prove a file is complete.

    Other arguments as :class:`FlexOutboundFileSensor` (``sftp_conn_id``, ``deferrable``...).
    """

    template_fields: Sequence[str] = (*FlexOutboundFileSensor.template_fields, "manifest")

    def __init__(
        self,
        *,
        manifest: Any,
        ledger_conn_id: str = LEDGER_CONN_ID,
        poke_interval: float | None = None,
        timeout: float | None = None,
        settle_interval: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            ledger_conn_id=ledger_conn_id,
            settle_interval=settle_interval,
            poke_interval=conf.getfloat("flex", "ack_poke_interval") if poke_interval is None else poke_interval,
            timeout=conf.getfloat("flex", "ack_timeout") if timeout is None else timeout,
            **kwargs,
        )
        self.manifest = manifest

    def _awaited(self, context: Context) -> list[str]:
        """Set ``expect``/``patterns`` to the acks the ledger says are due (also after a deferral)."""
        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.batch.manifest import read_manifest

        dag_id = getattr(context.get("dag"), "dag_id", None) or "the DAG"
        acks = awaited_acks(FlexLedger(str(self.ledger_conn_id)), read_manifest(self.manifest), dag_id=dag_id)
        self.expect = acks
        self.patterns = list(acks)  # exact names are fnmatch patterns of themselves
        return acks

    def execute(self, context: Context) -> Any:
        """Skip when nothing waits for an ack; else poke or defer as the outbound sensor does."""
        acks = self._awaited(context)
        if not acks:
            raise AirflowSkipException("Nothing uploaded waits for an ack (a rerun of a shipped day)")
        self.log.info("%d file(s) wait for Flex's ack: %s", len(acks), acks)
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Return the trigger's ack files (this instance is new after the deferral: names again)."""
        self._awaited(context)
        return super().execute_complete(context, event)
