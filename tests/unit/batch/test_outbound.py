"""Outbound parser and process_outbound_files: good files apply, malformed ones go to quarantine."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from flex_provider.batch.ledger import FlexLedger
from flex_provider.batch.outbound import (
    MalformedOutboundFile,
    process_outbound_files,
    read_ack_file,
    validate_result_file,
)
from flex_provider.batch.writer import BatchWriter, iter_batch_rows
from tests.fixtures.batch import MID, chunks

DAY = date(2026, 11, 24)


def write_outbound(path: Path, envelope: dict[str, Any], rows: list[dict[str, Any]]) -> Path:
    """An outbound file in the documented line layout."""
    head = json.dumps(envelope, separators=(",", ":"))[:-1] + ',"rows":['
    body = ",\n".join(json.dumps(r, separators=(",", ":")) for r in rows)
    path.write_text(head + "\n" + body + ("\n" if rows else "") + "]}\n")
    return path


def ack_envelope(inbound: str, rows: int, **extra: Any) -> dict[str, Any]:
    return {
        "fileType": "ack",
        "inboundFile": inbound,
        "mid": MID,
        "receivedAtUtc": "2026-11-24T08:00:00Z",
        "status": "PROCESSED",
        "rowCount": rows,
        "accepted": rows,
        "rejected": 0,
        "fileErrors": [],
        **extra,
    }


def result_envelope(rows: int, number: int = 1) -> dict[str, Any]:
    return {
        "fileType": "result",
        "mid": MID,
        "generatedAtUtc": "2026-12-01T10:00:00Z",
        "fileNumber": number,
        "rowCount": rows,
    }


def result_row(i: int, status: str = "APPROVED", **extra: Any) -> dict[str, Any]:
    return {
        "orderId": f"sub-{i}-2026-11",
        "orderSessionKey": f"osk-{i}",
        "status": status,
        "confirmationId": "22ACD1D9" if status == "APPROVED" else None,
        "amount": 1999,
        "currency": "USD",
        "timestampUtc": "2026-11-30T08:12:00Z",
        **extra,
    }


@pytest.fixture
def shipped(tmp_path: Path) -> tuple[FlexLedger, str]:
    """A SQLite ledger holding one shipped evaluate file of 10 rows."""
    out = tmp_path / "out"
    summary = BatchWriter(
        kind="evaluate",
        mid=MID,
        business_date=DAY,
        out_dir=out,
        now=lambda: datetime(2026, 11, 25, tzinfo=timezone.utc),
    ).write(chunks(10, 10))
    name = summary["files"][0]
    ledger = FlexLedger.from_url(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.record_file(
        name, business_date=DAY, kind="evaluate", mid=MID, rows=10, sha256="0" * 64, rows_sha256="1" * 64
    )
    ledger.record_rows(name, iter_batch_rows(out / name))
    ledger.mark_uploaded(name, 100, "2" * 64)  # Flex answers only for uploaded files
    return ledger, name


def test_good_ack_and_result_files_apply(tmp_path: Path, shipped: tuple[FlexLedger, str]) -> None:
    ledger, inbound = shipped
    rows = [
        {
            "sequenceNumber": str(i + 1),
            "orderId": f"sub-{i}-2026-11",
            "orderSessionKey": f"osk-{i}",
            "status": "SUBMITTED",
            "errors": [],
        }
        for i in range(9)
    ]
    rows.append(
        {
            "sequenceNumber": "10",
            "orderId": "sub-9-2026-11",
            "orderSessionKey": None,
            "status": "REJECTED",
            "errors": [{"field": "Transaction.Amount", "message": "The Amount field is required."}],
            "hint": "extra",
        }
    )
    ack = write_outbound(
        tmp_path / f"ack_{inbound[:-5]}.json", ack_envelope(inbound, 10, newKey={"x": 1}), rows
    )
    result = write_outbound(
        tmp_path / "result_x_20261201100000_0001.json",
        {**result_envelope(3), "futureField": True},
        [result_row(0), result_row(1, "EXPIRED"), result_row(2, "APPROVED", riskScore=0.3)],
    )
    parsed = read_ack_file(ack)
    assert parsed.rows[9].errors[0].field == "Transaction.Amount"

    summary = process_outbound_files([result, ack], ledger, tmp_path / "quarantine")
    assert summary["processed"] == [ack.name, result.name]  # acks sort before results
    assert summary["quarantined"] == []
    assert summary["results"] == {"applied": 3, "ignored": 0, "unknown": 0}
    got = ledger.rows_for_orders(MID, "evaluate", [f"sub-{i}-2026-11" for i in range(10)])
    assert [got[f"sub-{i}-2026-11"]["status"] for i in (0, 1, 2, 3, 9)] == [
        "APPROVED",
        "EXPIRED",
        "APPROVED",
        "SUBMITTED",
        "REJECTED",
    ]
    assert got["sub-3-2026-11"]["order_session_key"] == "osk-3"
    assert got["sub-9-2026-11"]["error"] == "Transaction.Amount: The Amount field is required."
    assert got["sub-0-2026-11"]["confirmation_id"] == "22ACD1D9"
    assert ledger.file_state(inbound) == "acknowledged"
    assert ledger.processed_outbound_names() == {ack.name, result.name}
    # a rerun skips what was done
    again = process_outbound_files([result, ack], ledger, tmp_path / "quarantine")
    assert again["skipped"] == [ack.name, result.name]
    assert again["processed"] == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            '{"fileType":"result","mid":"m","generatedAtUtc":"2026-12-01T10:00:00Z","fileNumber":1,"rowCount":1,"rows":[\n{"orderId":"sub-0-2026-11"',
            "not JSON",
        ),
        (
            '{"fileType":"result","mid":"m","generatedAtUtc":"2026-12-01T10:00:00Z","fileNumber":1,"rowCount":1,"rows":[\n{"orderId":"sub-0-2026-11","status":"APPROVED"}\n',
            "truncated",
        ),
        (
            '{"fileType":"ack","mid":"m","generatedAtUtc":"2026-12-01T10:00:00Z","fileNumber":1,"rowCount":0,"rows":[\n]}\n',
            "fileType",
        ),
        (
            '{"fileType":"result","mid":"m","generatedAtUtc":"2026-12-01T10:00:00Z","fileNumber":1,"rowCount":2,"rows":[\n{"orderId":"sub-0-2026-11","status":"APPROVED"}\n]}\n',
            "rowCount is 2",
        ),
        (
            '{"fileType":"result","mid":"m","generatedAtUtc":"2026-12-01T10:00:00Z","fileNumber":1,"rowCount":1,"rows":[\n{"orderId":"sub-0-2026-11","status":"MAYBE"}\n]}\n',
            "status",
        ),
        ('{"fileType":"result","mid":"m","fileNumber":1,"rowCount":0,"rows":[\n]}\n', "generatedAtUtc"),
        ("not json at all", "not valid JSON"),
    ],
)
def test_malformed_result_file_raises(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "result_x.json"
    path.write_text(content)
    with pytest.raises(MalformedOutboundFile, match=reason):
        validate_result_file(path)


def test_malformed_file_is_quarantined_and_others_still_apply(
    tmp_path: Path, shipped: tuple[FlexLedger, str]
) -> None:
    ledger, _inbound = shipped
    bad = tmp_path / "result_x_20261201090000_0001.json"
    bad.write_text(
        json.dumps(result_envelope(2))[:-1]
        + ',"rows":[\n'
        + json.dumps(result_row(3))
        + ",\n"
        + '{"orderId":"sub-4-2026-11","status":"APPROVED","timestampUtc":"yesterday"}\n]}\n'
    )
    good = write_outbound(
        tmp_path / "result_x_20261201100000_0002.json", result_envelope(1, 2), [result_row(5)]
    )
    pretty = tmp_path / "result_x_20261201110000_0003.json"  # another JSON layout is still accepted
    pretty.write_text(json.dumps({**result_envelope(1, 3), "rows": [result_row(6)]}, indent=2))

    summary = process_outbound_files([bad, good, pretty], ledger, tmp_path / "quarantine")
    assert summary["quarantined"] == [bad.name]
    assert summary["processed"] == [good.name, pretty.name]
    assert not bad.exists()
    assert (tmp_path / "quarantine" / bad.name).exists()
    reason = (tmp_path / "quarantine" / f"{bad.name}.reason.txt").read_text()
    assert "bad row 2" in reason
    assert "timestampUtc" in reason
    assert "yesterday" not in reason
    got = ledger.rows_for_orders(MID, "evaluate", ["sub-3-2026-11", "sub-5-2026-11", "sub-6-2026-11"])
    # nothing of the malformed file was applied, not even its good first row
    assert [got[f"sub-{i}-2026-11"]["status"] for i in (3, 5, 6)] == ["SHIPPED", "APPROVED", "APPROVED"]
    assert bad.name in ledger.processed_outbound_names()


@pytest.mark.parametrize("closing", ["\n]}\n", "]}\n"], ids=["closing-on-own-line", "closing-on-last-row"])
def test_ack_whose_last_row_ends_in_an_array_is_read(tmp_path: Path, closing: str) -> None:
    """The sandbox writes ``"errors":[]}`` at the end of every ack row: that is a row, not the closing."""
    header = {
        "fileType": "ack",
        "inboundFile": f"evaluate_{MID}_20261124_0001.json",
        "mid": MID,
        "receivedAtUtc": "2026-11-25T00:00:00Z",
        "status": "PROCESSED",
        "rowCount": 2,
        "accepted": 1,
        "rejected": 1,
        "fileErrors": [],
    }
    rows = [
        {"sequenceNumber": "1", "orderId": "o-1", "orderSessionKey": "k-1", "status": "SUBMITTED", "errors": []},
        {"sequenceNumber": "2", "orderId": "o-2", "orderSessionKey": None, "status": "REJECTED",
         "errors": [{"field": "Transaction.Amount", "message": "required"}]},
    ]  # fmt: skip
    line1 = json.dumps(header, separators=(",", ":"))[:-1] + ',"rows":['
    body = ",\n".join(json.dumps(r, separators=(",", ":")) for r in rows)
    path = tmp_path / f"ack_evaluate_{MID}_20261124_0001.json"
    path.write_text(line1 + "\n" + body + closing, encoding="utf-8")
    assert json.loads(path.read_text())["rows"] == rows  # the fixture is one valid JSON document
    ack = read_ack_file(path)
    assert [r.order_session_key for r in ack.rows] == ["k-1", None]
    assert ack.rows[1].errors[0].field == "Transaction.Amount"


@pytest.mark.parametrize("layout", ["lines", "document"])
def test_files_that_start_with_a_utf8_byte_order_mark_are_read(
    tmp_path: Path, shipped: tuple[FlexLedger, str], layout: str
) -> None:
    """A .NET writer's UTF-8 starts with EF BB BF; the ack and the result still apply, row for row."""
    ledger, inbound = shipped
    acks = [{"sequenceNumber": str(i + 1), "orderId": f"sub-{i}-2026-11", "orderSessionKey": f"osk-{i}",
             "status": "SUBMITTED", "errors": []} for i in range(10)]  # fmt: skip
    results = [result_row(0), result_row(1, "EXPIRED")]
    ack = write_outbound(tmp_path / f"ack_{inbound[:-5]}.json", ack_envelope(inbound, 10), acks)
    result = write_outbound(tmp_path / "result_x_20261201100000_0001.json", result_envelope(2), results)
    if layout == "document":
        ack.write_text(json.dumps({**ack_envelope(inbound, 10), "rows": acks}, indent=2))
        result.write_text(json.dumps({**result_envelope(2), "rows": results}, indent=2))
    for path in (ack, result):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    summary = process_outbound_files([result, ack], ledger, tmp_path / "quarantine")
    assert summary["quarantined"] == []
    assert summary["results"] == {"applied": 2, "ignored": 0, "unknown": 0}
    got = ledger.rows_for_orders(MID, "evaluate", [f"sub-{i}-2026-11" for i in (0, 1, 2)])
    assert [got[f"sub-{i}-2026-11"]["status"] for i in (0, 1, 2)] == ["APPROVED", "EXPIRED", "SUBMITTED"]
    assert got["sub-2-2026-11"]["order_session_key"] == "osk-2"


def test_numbers_where_the_files_hold_text_are_read_as_their_text(
    tmp_path: Path, shipped: tuple[FlexLedger, str]
) -> None:
    """``"sequenceNumber": 1``, ``"confirmationId": 22`` (a writer that types ids as numbers) still apply."""
    ledger, inbound = shipped
    acks = [{"sequenceNumber": i + 1, "orderId": f"sub-{i}-2026-11", "orderSessionKey": f"osk-{i}",
             "status": "SUBMITTED", "errors": []} for i in range(10)]  # fmt: skip
    ack = write_outbound(tmp_path / f"ack_{inbound[:-5]}.json", ack_envelope(inbound, 10), acks)
    result = write_outbound(tmp_path / "result_x_20261201100000_0001.json", result_envelope(1),
                            [result_row(0, confirmationId=22)])  # fmt: skip
    summary = process_outbound_files([result, ack], ledger, tmp_path / "quarantine")
    assert summary["quarantined"] == []
    got = ledger.rows_for_orders(MID, "evaluate", ["sub-0-2026-11", "sub-1-2026-11"])
    assert (got["sub-0-2026-11"]["status"], got["sub-0-2026-11"]["confirmation_id"]) == ("APPROVED", "22")
    assert got["sub-1-2026-11"]["status"] == "SUBMITTED"
