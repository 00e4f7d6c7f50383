"""
The pipelined ship (flex_provider.batch.upload): each file recorded before it is sent, marked uploaded
after it landed; a file the record step declines is never sent. The SFTP leg is a local folder here
(``tests/unit/batch/exchange.py``); ``tests/batch/test_upload.py`` runs it against real servers.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

from flex_provider.batch.manifest import first_line_transform, iter_batch_rows, read_manifest
from flex_provider.batch.upload import ShipPlan, ship_pipelined
from flex_provider.batch.writer import BatchWriter
from flex_provider.ledger import FlexLedger
from tests.fixtures.batch import chunks
from tests.unit.batch.exchange import FolderExchange

DAY = date(2026, 11, 24)


def test_files_are_recorded_before_they_are_sent_and_marked_after(
    tmp_path: Path, ledger: FlexLedger, mid: str
) -> None:
    out = tmp_path / "out"
    summary = BatchWriter(kind="evaluate", mid=mid, business_date=DAY, out_dir=out, rows_per_file=4,
                          now=lambda: datetime(2026, 11, 25, tzinfo=timezone.utc)).write(chunks(10, 10))  # fmt: skip
    entries = read_manifest(summary["manifest"]).files
    declined = entries[1].name

    def recorder(entry) -> callable:
        def record() -> bool:
            if entry.name == declined:
                return False  # e.g. another run uploaded it meanwhile
            ledger.record_file(entry.name, business_date=DAY, kind="evaluate", mid=mid, rows=entry.rows,
                               sha256=entry.sha256, rows_sha256=entry.rows_sha256)  # fmt: skip
            ledger.record_rows(entry.name, iter_batch_rows(out / entry.name))
            return True

        return record

    exchange = FolderExchange(tmp_path / "inbound", ledger)
    plans = [ShipPlan(e.name, out / e.name, e.rows, record=recorder(e)) for e in entries]
    outcome = ship_pipelined(
        plans, hook=exchange, ledger=ledger, transform_first_line=first_line_transform("tok")
    )
    shipped = [entries[0].name, entries[2].name]
    assert (outcome.uploaded, outcome.skipped, outcome.rows) == (shipped, [declined], 4 + 2)
    assert exchange.sent == dict.fromkeys(shipped, "written")  # in the ledger before the first byte left
    for name in shipped:
        info = ledger.file_info(name)
        sent = (tmp_path / "inbound" / name).read_bytes()
        assert (info["state"], info["remote_size"]) == ("uploaded", len(sent))
        assert b'"authorizationToken":"Bearer tok"' in sent.split(b"\n")[0]
        assert b"Bearer tok" not in (out / name).read_bytes()  # the token never lands in a local file
    assert not (tmp_path / "inbound" / declined).exists()
    assert ledger.file_info(declined) is None


def test_uploads_landed_while_the_ledger_marks_are_marked_together(
    tmp_path: Path, ledger: FlexLedger, mid: str
) -> None:
    """
    Marking appends under the ledger's one append lock: one marker takes every upload that landed
    during its last transaction into the next, instead of a transaction (and a wait on the lock) a file.
    """
    import time

    out = tmp_path / "out"
    summary = BatchWriter(kind="evaluate", mid=mid, business_date=DAY, out_dir=out, rows_per_file=2,
                          now=lambda: datetime(2026, 11, 25, tzinfo=timezone.utc)).write(chunks(12, 12))  # fmt: skip
    entries = read_manifest(summary["manifest"]).files
    inbound = tmp_path / "inbound"

    class SlowFirstMark:
        """The real ledger; its first mark waits until every file has landed (a ledger under load)."""

        def __init__(self) -> None:
            self.marks: list[list[str]] = []

        def __getattr__(self, name: str):
            return getattr(ledger, name)

        def mark_uploaded_many(self, marks) -> None:
            if not self.marks:
                deadline = time.monotonic() + 10
                while len(list(inbound.glob("*.json"))) < len(entries) and time.monotonic() < deadline:
                    time.sleep(0.02)
                time.sleep(0.3)  # the main thread hands the last results over
            self.marks.append([m.name for m in marks])
            ledger.mark_uploaded_many(marks)

    def recorder(entry) -> callable:
        def record() -> bool:
            ledger.record_file(entry.name, business_date=DAY, kind="evaluate", mid=mid, rows=entry.rows,
                               sha256=entry.sha256, rows_sha256=entry.rows_sha256)  # fmt: skip
            ledger.record_rows(entry.name, iter_batch_rows(out / entry.name))
            return True

        return record

    spy = SlowFirstMark()
    plans = [ShipPlan(e.name, out / e.name, e.rows, record=recorder(e)) for e in entries]
    outcome = ship_pipelined(plans, hook=FolderExchange(inbound, ledger), ledger=spy,
                             transform_first_line=first_line_transform("tok"))  # fmt: skip
    assert len(entries) == 6
    assert sorted(outcome.uploaded) == sorted(e.name for e in entries)
    assert len(spy.marks) == 2  # the first file alone, then the five that landed meanwhile
    assert sorted(n for batch in spy.marks for n in batch) == sorted(e.name for e in entries)
    for e in entries:
        assert ledger.file_info(e.name)["state"] == "uploaded"
