"""The multi-channel uploader and the pipelined ship, against real SFTP servers (OpenSSH sshd, the sandbox)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from flex_provider.batch.manifest import first_line_transform
from flex_provider.batch.upload import ShipPlan, ship_pipelined
from flex_provider.exceptions import FlexHostKeyMismatchError
from flex_provider.hooks.sftp import FlexSftpHook
from tests.sftp import conftest as sftp_fixtures

# The SFTP suite's servers and per-test folders (OpenSSH sshd and the sandbox's server).
exchange = sftp_fixtures.exchange
sftp_server = sftp_fixtures.sftp_server
sandbox_sftp_in_thread = sftp_fixtures.sandbox_sftp_in_thread


def _batch(path: Path, rows: int) -> Path:
    head = '{"fileType":"evaluate","mid":"M","rowCount":' + str(rows) + ',"authorizationToken":"","rows":['
    body = ",\n".join(
        json.dumps({"sequenceNumber": str(i), "orderId": f"{path.stem}-{i}"}) for i in range(1, rows + 1)
    )
    path.write_text(head + "\n" + body + "\n]}\n")
    return path


def test_channels_upload_every_file_with_the_token_and_skip_on_rerun(
    exchange: dict[str, Any], tmp_path: Path
) -> None:
    files = [_batch(tmp_path / f"evaluate_M_20261124_{n:04d}.json", 50 + n) for n in range(1, 13)]
    hook = FlexSftpHook(exchange["conn_id"])
    with hook.open_uploader(channels=3, transform_first_line=first_line_transform("tok-1")) as up:
        for path in files:
            up.submit(path)
        results = list(up.wait_all())
    assert sorted(r.name for r in results) == [p.name for p in files]
    assert {r.status for r in results} == {"uploaded"}
    for path in files:
        remote = (exchange["inbound"] / path.name).read_bytes()
        local = path.read_bytes()
        # only line 1 differs: the bearer token went in
        assert remote.split(b"\n", 1)[1] == local.split(b"\n", 1)[1]
        assert json.loads(remote)["authorizationToken"] == "Bearer tok-1"
        got = next(r for r in results if r.name == path.name)
        assert (got.size, got.sha256) == (len(remote), hashlib.sha256(remote).hexdigest())
    assert not list(exchange["inbound"].glob("*.part"))
    # a rerun finds every final name with the expected size and sends nothing
    with hook.open_uploader(channels=2, transform_first_line=first_line_transform("tok-1")) as up:
        for path in files:
            up.submit(path)
        again = list(up.wait_all())
    assert {r.status for r in again} == {"skipped"}


def test_a_wrong_pinned_host_key_refuses_to_connect(
    exchange: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = exchange["server"]
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{exchange['conn_id'].upper()}",
        server.conn_json(host_key=sftp_fixtures.wrong_host_key(), inbound_dir="x", outbound_dir="y"),
    )
    hook = FlexSftpHook(exchange["conn_id"])
    uploader = hook.open_uploader(channels=2)
    with pytest.raises(FlexHostKeyMismatchError, match="host_key"):
        uploader.__enter__()


class _Ledger:
    """Records the order of ledger calls (the real ledger is covered by the DAG and fault suites)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def mark_uploaded_many(self, marks: list[Any]) -> None:
        self.calls.extend(("uploaded", m.name) for m in marks)
        self.transactions = getattr(self, "transactions", 0) + 1

    def mark_reuploaded(self, name: str, size: int, sha256: str | None) -> None:
        self.calls.append(("reuploaded", name))


def test_ship_records_each_file_before_it_is_sent_and_marks_it_after(
    exchange: dict[str, Any], tmp_path: Path
) -> None:
    files = [_batch(tmp_path / f"evaluate_M_20261124_{n:04d}.json", 20) for n in range(1, 9)]
    ledger = _Ledger()
    inbound = exchange["inbound"]

    def recorder(path: Path):
        def record() -> bool:
            assert not (inbound / path.name).exists()  # recorded before it can land
            ledger.calls.append(("recorded", path.name))
            return path.name != files[3].name  # a concurrent run took this one

        return record

    plans = [ShipPlan(p.name, p, 20, record=recorder(p)) for p in files]
    plans.append(ShipPlan("resent.json", _batch(tmp_path / "resent.json", 2), 2, resend=True))
    outcome = ship_pipelined(
        plans,
        hook=FlexSftpHook(exchange["conn_id"]),
        ledger=ledger,
        transform_first_line=first_line_transform("t"),
        channels=3,
    )
    assert sorted(outcome.uploaded) == sorted([p.name for p in files if p != files[3]] + ["resent.json"])
    assert outcome.skipped == [files[3].name]
    assert outcome.rows == 7 * 20 + 2
    assert not (inbound / files[3].name).exists()
    for p in files:
        if p == files[3]:
            continue
        assert ledger.calls.index(("recorded", p.name)) < ledger.calls.index(("uploaded", p.name))
    assert ("reuploaded", "resent.json") in ledger.calls
