"""``flex_provider.batch.inbox``: Flex's outbound folder applied once, on a real OpenSSH sshd (SQLite ledger)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from flex_provider.batch.inbox import collect_outbound
from flex_provider.hooks.sftp import FlexSftpHook
from flex_provider.ledger import FlexLedger
from tests.fixtures.batch import MID

GOOD = f"result_{MID}_20261130081200_0001.json"
BAD = f"result_{MID}_20261130081200_0002.json"


def _result_file(rows: int) -> bytes:
    header = {"fileType": "result", "mid": MID, "generatedAtUtc": "2026-11-30T08:12:00Z", "fileNumber": 1,
              "rowCount": rows}
    lines = [json.dumps(header, separators=(",", ":"))[:-1] + ',"rows":[']
    for g in range(1, rows + 1):
        row = {"orderId": f"ord_{g}", "orderSessionKey": None, "status": "EXPIRED", "confirmationId": None,
               "amount": 1999, "currency": "USD", "timestampUtc": "2026-11-30T08:12:00Z"}
        lines.append(json.dumps(row, separators=(",", ":")) + ("," if g < rows else ""))
    return ("\n".join(lines) + "\n]}\n").encode()


@pytest.fixture
def world(sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    base = f"inbox-{uuid.uuid4().hex[:8]}"
    out = sshd.root / base / "out"
    out.mkdir(parents=True)
    (sshd.root / base / "in").mkdir()
    conn_id = f"flex_sftp_{base[6:]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}",
                       sshd.conn_json(inbound_dir=f"{base}/in", outbound_dir=f"{base}/out"))
    ledger = FlexLedger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield {"out": out, "hook": FlexSftpHook(ssh_conn_id=conn_id), "ledger": ledger, "local": tmp_path / "dl"}
    ledger.engine.dispose()


def _collect(world: dict, names: list[str]) -> dict:
    return collect_outbound(names, hook=world["hook"], ledger=world["ledger"], local_dir=world["local"])


def test_good_files_are_applied_and_archived_bad_ones_quarantined(world) -> None:
    (world["out"] / GOOD).write_bytes(_result_file(3))
    (world["out"] / BAD).write_bytes(b'{"fileType": "result", "rows": [')
    summary = _collect(world, [GOOD, BAD])
    assert summary["processed"] == [GOOD] and summary["quarantined"] == [BAD]  # noqa: PT018
    assert summary["result_rows"] == 3
    assert (world["out"] / "processed" / GOOD).is_file() and not (world["out"] / GOOD).exists()  # noqa: PT018
    assert (world["out"] / "quarantine" / BAD).is_file()
    assert (world["local"] / "quarantine" / BAD).is_file()  # the local copy kept for a look
    assert world["ledger"].processed_outbound_names() >= {GOOD, BAD}


def test_a_rerun_downloads_and_applies_nothing_again(world) -> None:
    (world["out"] / GOOD).write_bytes(_result_file(2))
    _collect(world, [GOOD])
    (world["local"] / GOOD).unlink()
    (world["out"] / GOOD).write_bytes(_result_file(2))  # Flex wrote it again (a retried upload)
    again = _collect(world, [GOOD])
    assert again["processed"] == [] and again["skipped"] == [GOOD]  # noqa: PT018
    assert not (world["out"] / GOOD).exists()  # still tidied away: archived, not applied twice
    assert not (world["local"] / GOOD).exists()  # not downloaded again


def test_a_file_processed_before_a_crash_is_archived_by_the_next_run(world) -> None:
    (world["out"] / GOOD).write_bytes(_result_file(2))
    hook = world["hook"]
    with hook.get_managed_conn():
        path = hook.download(GOOD, world["local"])
    from flex_provider.batch.outbound import process_outbound_files

    process_outbound_files([path], world["ledger"], world["local"] / "quarantine")  # applied, never moved
    summary = _collect(world, [GOOD])
    assert summary["skipped"] == [GOOD]
    assert (world["out"] / "processed" / GOOD).is_file()


def test_a_file_gone_before_its_download_is_skipped(world) -> None:
    (world["out"] / GOOD).write_bytes(_result_file(1))
    summary = _collect(world, [GOOD, f"result_{MID}_20261130081200_0009.json"])
    assert summary["processed"] == [GOOD]
    assert f"result_{MID}_20261130081200_0009.json" not in world["ledger"].processed_outbound_names()
