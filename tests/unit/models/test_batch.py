"""The batch file models (flex_provider.models.batch): Flex's limits and the wire names, as documented."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from flex_provider.models.batch import AckFile, BatchHeader, ManifestEntry, ResultRow

DAY = date(2026, 11, 24)


def test_the_envelope_is_camel_case_and_within_flexs_limits() -> None:
    header = BatchHeader(file_type="evaluate", mid="m", business_date=DAY, file_number=1, row_count=2000,
                         expiry_date_utc=datetime(2026, 12, 15, tzinfo=timezone.utc))  # fmt: skip
    assert header.to_wire() == {
        "fileType": "evaluate", "schemaVersion": 1, "mid": "m", "businessDate": "2026-11-24", "fileNumber": 1,
        "rowCount": 2000, "expiryDateUtc": "2026-12-15T00:00:00Z", "authorizationToken": "",
    }  # fmt: skip
    for bad in ({"row_count": 2001}, {"file_number": 0}, {"file_number": 10000}, {"mid": ""},
                {"file_type": "result"}):  # fmt: skip
        with pytest.raises(ValidationError):
            BatchHeader(**{"file_type": "evaluate", "mid": "m", "business_date": DAY, "file_number": 1,
                           "row_count": 1, **bad})  # fmt: skip


def test_an_ack_reads_flexs_wire_names_and_times_as_utc() -> None:
    ack = AckFile.model_validate({
        "fileType": "ack", "inboundFile": "evaluate_m_20261124_0001.json", "mid": "m",
        "receivedAtUtc": "2026-11-24T09:00:00+01:00", "status": "PROCESSED", "rowCount": 2, "accepted": 1,
        "rejected": 1, "somethingNew": True,
        "rows": [{"sequenceNumber": "1", "orderId": "o1", "orderSessionKey": "osk-1", "status": "SUBMITTED"},
                 {"sequenceNumber": "2", "orderId": "o2", "status": "REJECTED",
                  "errors": [{"field": "currency", "message": "invalid"}]}],
    })  # fmt: skip
    assert ack.received_at_utc - datetime(2026, 11, 24, 8, tzinfo=timezone.utc) == timedelta(0)
    assert [(r.order_id, r.order_session_key, r.status) for r in ack.rows] == [
        ("o1", "osk-1", "SUBMITTED"), ("o2", None, "REJECTED")]  # fmt: skip
    assert ack.rows[1].errors[0].field == "currency"


@pytest.mark.parametrize(
    "change",
    [{"status": "approved"}, {"status": "SUBMITTED"}, {"amount": 19.5}, {"orderId": ""}, {"orderId": None}],
)
def test_a_result_row_flex_could_not_have_meant_is_refused(change: dict) -> None:
    row = {"orderId": "o1", "status": "APPROVED", "amount": 1999, "currency": "USD", **change}
    with pytest.raises(ValidationError):
        ResultRow.model_validate(row)


def test_a_result_amount_is_whole_minor_units() -> None:
    row = ResultRow.model_validate({"orderId": "o1", "status": "REFUNDED", "amount": 1999, "currency": "JPY"})
    assert (row.amount, type(row.amount)) == (1999, int)


def test_manifest_digests_are_lowercase_sha256_hex() -> None:
    ok = {"name": "f.json", "rows": 2, "sha256": "a" * 64, "rows_sha256": "b" * 64}
    assert ManifestEntry(**ok).rows == 2
    for bad in ({"sha256": "A" * 64}, {"rows_sha256": "b" * 63}, {"rows": 2001}):
        with pytest.raises(ValidationError):
            ManifestEntry(**{**ok, **bad})
