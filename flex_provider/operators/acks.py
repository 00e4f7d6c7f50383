"""Apply Flex's acks of a run's files to the ledger; fail the run on a file Flex rejected as a whole."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from flex_provider.operators.outbound import ProcessOutboundOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from flex_provider.batch.ledger import FlexLedger
    from flex_provider.models.batch import Manifest


def check_rejected_files(ledger: FlexLedger, manifest: Manifest) -> dict[str, int]:
    """
    Raise :class:`AirflowFailException` when Flex rejected a file of the manifest's day as a whole.

    A whole-file rejection (an expired token, an unreadable file) leaves its rows unsent: the run must
    not look green. The message tells the merchant what to do; re-running the day resends the file with a
    fresh token. Otherwise return the day's files counted by ledger state.
    """
    day = manifest.business_date
    files = ledger.files_for_day(manifest.mid, manifest.kind, day)
    rejected = {f["name"]: f["ack_error"] for f in files if f["ack_status"] == "REJECTED"}
    if rejected:
        raise AirflowFailException(
            f"Flex rejected {len(rejected)} file(s) as a whole: {rejected}. Re-run this day (clear the "
            "run, or backfill with --reprocess-behavior failed): the ship step uploads them again "
            "with a fresh token."
        )
    return dict(Counter(f["state"] for f in files))


class ProcessAcksOperator(ProcessOutboundOperator):
    """
    Process a run's ack files like :class:`ProcessOutboundOperator`, then check the manifest's day.

    Every ack is applied (and archived) first; then the task fails when Flex rejected a file of the day
    as a whole (:func:`check_rejected_files`), so the merchant sees it on the run, not in a log.

    :param manifest: path of the manifest of the run (templated; ``extract.output["manifest"]``).

    Other arguments as :class:`ProcessOutboundOperator` (``files``, ``local_dir``...); ``local_dir``
    defaults to ``outbound/`` next to the manifest.
    """

    template_fields: Sequence[str] = (*ProcessOutboundOperator.template_fields, "manifest")

    def __init__(self, *, manifest: Any, local_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(local_dir=local_dir or "", **kwargs)
        self.manifest = manifest

    def execute(self, context: Context) -> dict[str, Any]:
        from pathlib import Path

        from flex_provider.batch.ledger import FlexLedger
        from flex_provider.batch.manifest import read_manifest

        if not self.local_dir:
            self.local_dir = str(Path(self.manifest).parent / "outbound")
        summary = super().execute(context)
        files = check_rejected_files(FlexLedger(self.ledger_conn_id), read_manifest(self.manifest))
        self.log.info("Files of the day by state: %s", files)
        return summary
