"""``flex_provider.sandbox.batch_files``: an inbound file is accepted or rejected with the documented code.

Each rejection is made by changing one thing in a file that is otherwise accepted.
"""

from __future__ import annotations

import json

import pytest

from flex_provider.sandbox.batch_files import (
    MAX_ROWS,
    FileRejected,
    ack_name_of,
    line_layout,
    parse_inbound,
    problem_errors,
    unflatten,
)

MID = "6a1c0b0e-3f7e-4c55-9a57-1f2b3c4d5e6f"
TOKENS = {"good": MID, "other": "another-mid"}
ROW = {"orderId": "o-1", "sequenceNumber": "1"}


def _doc(**change: object) -> dict:
    doc = {"fileType": "evaluate", "schemaVersion": 1, "mid": MID, "authorizationToken": "Bearer good",
           "rowCount": 1, "rows": [ROW]}
    doc.update(change)
    return {k: v for k, v in doc.items() if v is not None}


def _parse(doc: object, kind: str = "evaluate") -> tuple[dict, list]:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return parse_inbound(raw, kind, "json", MID, TOKENS.get)


def test_a_good_file_gives_its_envelope_and_rows() -> None:
    envelope, rows = _parse(_doc())
    assert (envelope["mid"], rows) == (MID, [ROW])
    assert _parse(b"\xef\xbb\xbf" + json.dumps(_doc()).encode())[1] == [ROW]  # a UTF-8 BOM is fine


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        (b"\xff\xfe{}", "bad_encoding"),
        (b'{"fileType": "evaluate", ', "invalid_json"),
        ([1, 2], "invalid_envelope"),
        (_doc(fileType="transmit"), "file_type"),
        (_doc(schemaVersion=2), "schema_version"),
        (_doc(mid="someone-else"), "wrong_mid"),
        (_doc(authorizationToken=""), "missing_token"),
        (_doc(authorizationToken="good"), "bad_token"),
        (_doc(authorizationToken="Bearer unknown"), "invalid_token"),
        (_doc(authorizationToken="Bearer other"), "invalid_token"),  # a live token of another merchant
        (_doc(rows={"0": ROW}), "invalid_envelope"),
        (_doc(rowCount=2), "row_count"),
        (_doc(rows=[ROW] * (MAX_ROWS + 1), rowCount=MAX_ROWS + 1), "too_many_rows"),
        (_doc(expiryDateUtc=20301231), "invalid_envelope"),
    ],
)
def test_rejections(doc: object, code: str) -> None:
    with pytest.raises(FileRejected) as err:
        _parse(doc)
    assert err.value.code == code


def test_a_transmit_csv_nests_its_columns_and_restores_types() -> None:
    text = ("sequenceNumber,orderId,isMIT,transaction.amount,transaction.currency,payer.email\n"
            "1,o-1,true,1299,USD,\n")
    envelope, rows = parse_inbound(text.encode(), "transmit", "csv", MID, TOKENS.get)
    assert envelope == {"fileType": "transmit", "mid": MID}
    assert rows == [{"sequenceNumber": "1", "orderId": "o-1", "isMIT": True,
                     "transaction": {"amount": 1299, "currency": "USD"}}]  # the empty cell is dropped
    with pytest.raises(FileRejected, match="sequenceNumber"):
        parse_inbound(b"orderId\no-1\n", "transmit", "csv", MID, TOKENS.get)
    assert unflatten({"a.b.c": "x", "a.d": "FALSE"}) == {"a": {"b": {"c": "x"}, "d": False}}


def test_ack_name_line_layout_and_problem_errors() -> None:
    assert ack_name_of("evaluate_2026-11-24_001.json") == "ack_evaluate_2026-11-24_001.json"
    data = line_layout({"fileType": "ack"}, [{"a": 1}, {"b": 2}])
    assert data == b'{"fileType":"ack","rows":[\n{"a":1},\n{"b":2}\n]}\n'
    assert json.loads(data) == {"fileType": "ack", "rows": [{"a": 1}, {"b": 2}]}
    assert json.loads(line_layout({}, [])) == {"rows": []}
    assert problem_errors({"errors": {"Amount": ["too big", "negative"]}}) == [
        {"field": "Amount", "message": "too big"}, {"field": "Amount", "message": "negative"}]
    assert problem_errors({"detail": "conflict"}) == [{"field": None, "message": "conflict"}]
