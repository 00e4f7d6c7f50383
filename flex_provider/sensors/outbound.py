"""
Sensors that wait for Flex's outbound files: any new ack/result file, or the acks of a run's uploads.

:class:`FlexAckSensor` (the daily DAG's) works out from the ledger which acks to wait for.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from flex_provider.batch import OUTBOUND_PATTERNS, ack_name
from flex_provider.operators.common import LEDGER_CONN_ID, SFTP_CONN_ID

if TYPE_CHECKING:
    # The SFTP stack (paramiko, asyncssh) loads only when a task runs, never when a DAG file is parsed.
    from flex_provider.batch.ledger import FlexLedger
    from flex_provider.hooks.sftp import FlexSftpHook, RemoteFile
    from flex_provider.models.batch import Manifest


class FlexOutboundFileSensor(BaseSensorOperator):
    """
    Wait for new, complete files in the Flex outbound folder and return them as XCom.

    Returns ``[{"name", "size", "mtime"}, ...]`` (mtime in epoch seconds). A file is returned only
    when its name matches ``patterns``, it is not a ``.part`` file, it kept its size and mtime
    across two listings ``settle_interval`` apart, and the ledger has not processed it yet.

    :param sftp_conn_id: the ``sftp`` connection (``host_key`` pinned; ``outbound_dir`` extra).
    :param ledger_conn_id: SQL connection of the ship ledger; its ``processed_outbound_names()`` are
        never returned. None disables the ledger check (only ``exclude`` applies).
    :param patterns: fnmatch patterns of wanted names (templated).
    :param exclude: further names never to return (templated).
    :param expect: names that must all be there (complete, or processed already) before the sensor
        succeeds, e.g. the acks of the files this run uploaded (templated). Empty: any new file will do.
    :param outbound_dir: overrides the connection's ``outbound_dir`` extra (templated).
    :param settle_interval: seconds between the two listings that prove a file stopped growing.
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    template_fields: Sequence[str] = (
        "sftp_conn_id",
        "ledger_conn_id",
        "patterns",
        "exclude",
        "expect",
        "outbound_dir",
    )
    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        sftp_conn_id: str = SFTP_CONN_ID,
        ledger_conn_id: str | None = None,
        patterns: Sequence[str] = OUTBOUND_PATTERNS,
        exclude: Sequence[str] = (),
        expect: Sequence[str] = (),
        outbound_dir: str | None = None,
        settle_interval: float = 5.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sftp_conn_id = sftp_conn_id
        self.ledger_conn_id = ledger_conn_id
        self.patterns = list(patterns)
        self.exclude = list(exclude)
        self.expect = expect
        self.outbound_dir = outbound_dir
        self.settle_interval = settle_interval
        self.deferrable = deferrable

    def _excluded(self) -> set[str]:
        """Return the names never to return: ``exclude`` plus what the ledger has processed."""
        names = set(self.exclude)
        if self.ledger_conn_id:
            from flex_provider.batch.ledger import FlexLedger

            names |= set(FlexLedger(self.ledger_conn_id).processed_outbound_names())
        return names

    def _missing(self, excluded: set[str]) -> set[str]:
        """Expected names not processed yet (an expected file processed meanwhile counts as there)."""
        return {str(n) for n in (self.expect or ())} - excluded

    def _hook(self) -> FlexSftpHook:
        from flex_provider.hooks.sftp import FlexSftpHook

        return FlexSftpHook(ssh_conn_id=self.sftp_conn_id, outbound_dir=self.outbound_dir)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """List twice, ``settle_interval`` apart, over one connection; return the unchanged new files."""
        excluded = self._excluded()
        hook = self._hook()
        with hook.get_managed_conn():
            first = _new(_list_or_empty(hook, self.patterns), excluded)
            if not first:
                return False
            time.sleep(self.settle_interval)
            second = _new(_list_or_empty(hook, self.patterns), excluded)
        before = {f.name: (f.size, f.mtime) for f in first}
        stable = [f.to_dict() for f in second if before.get(f.name) == (f.size, f.mtime)]
        if not stable:
            return False
        missing = self._missing(excluded) - {f["name"] for f in stable}
        if missing:
            self.log.info("%d file(s) ready, still waiting for %s", len(stable), sorted(missing)[:10])
            return False
        self.log.info("Found %d new outbound file(s): %s", len(stable), [f["name"] for f in stable])
        return PokeReturnValue(is_done=True, xcom_value=stable)

    def execute(self, context: Context) -> Any:
        """
        Poke on the worker, or, when ``deferrable``, look once and defer to
        :class:`FlexOutboundFileTrigger` only if the files are not there yet.

        Looking first spares a rerun (acks already there) the trip through the triggerer, and keeps a
        trigger that would fire at once from racing the executor's report of the deferring attempt
        (apache/airflow#71580: the scheduler then fails the resumed attempt).
        """
        if not self.deferrable:
            return super().execute(context)
        found = self.poke(context)
        if isinstance(found, PokeReturnValue) and found.is_done:
            return found.xcom_value
        self._defer()

    def _defer(self) -> None:
        # Imported here: the trigger pulls in Airflow's trigger machinery, which DAG parsing never needs.
        from flex_provider.triggers.outbound import FlexOutboundFileTrigger

        excluded = self._excluded()
        expect = sorted(self._missing(excluded))
        if excluded:
            # Keep the trigger's kwargs small: only processed names still lying in the folder matter.
            present = {f.name for f in _list_or_empty(self._hook(), self.patterns)}
            excluded &= present
        self.defer(
            trigger=FlexOutboundFileTrigger(
                sftp_conn_id=self.sftp_conn_id,
                patterns=self.patterns,
                exclude=sorted(excluded),
                expect=expect,
                outbound_dir=self.outbound_dir,
                poke_interval=self.poke_interval,
                settle_interval=self.settle_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Return the trigger's files, minus any the ledger processed meanwhile (then wait again)."""
        if not event:
            raise AirflowException("No event received from the outbound file trigger")
        if event.get("status") != "success":
            message = event.get("message", "unknown error")
            if event.get("error_type") == "host_key_mismatch":
                from flex_provider.exceptions import FlexHostKeyMismatchError  # not needed to parse a DAG

                raise FlexHostKeyMismatchError(message)
            raise AirflowException(f"Outbound file trigger failed: {message}")
        excluded = self._excluded()
        files = [f for f in event.get("files", []) if f["name"] not in excluded]
        if not files:
            self.log.info("Every file found was processed meanwhile; waiting again")
            self._defer()
        self.log.info("Found %d new outbound file(s): %s", len(files), [f["name"] for f in files])
        return files


def _list_or_empty(hook: FlexSftpHook, patterns: Sequence[str]) -> list[RemoteFile]:
    try:
        return hook.list_outbound(patterns)
    except FileNotFoundError:
        return []


def _new(files: list[RemoteFile], excluded: set[str]) -> list[RemoteFile]:
    return [f for f in files if f.name not in excluded]


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
    for :class:`~flex_provider.operators.outbound.ProcessAcksOperator`.

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
