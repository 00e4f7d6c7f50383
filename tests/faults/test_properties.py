"""Fault 9: property-based tests (hypothesis) of the batch writer/reader round trip and the webhook verifier."""

from __future__ import annotations

import json
import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flex_provider.batch.writer import BatchWriter, fill_authorization_token, iter_batch_rows, read_manifest
from flex_provider.pci import looks_like_pan
from flex_provider.webhooks.signature import SignatureError, sign_request, verify_request

MID = "6c5b7d1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
KEY = "c2VjcmV0LWtleS0wMTIzNDU2Nzg5MDEyMzQ1Njc4OTAx"
text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40
)
order_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,30}", fullmatch=True).filter(
    lambda s: not looks_like_pan(s)
)
rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "order_id": order_ids,
            "transaction_id": order_ids,
            "amount_cents": st.integers(min_value=-5, max_value=10**9),
            "currency": st.sampled_from(["USD", "EUR", "GBP", "US", ""]),
            "card_token": text,
            "payer_email": text,
            "dynamic_descriptor": st.one_of(
                text, st.sampled_from(["card 4111111111111111", "5555 5555 5555 4444"])
            ),
        }
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows_strategy, per_file=st.integers(min_value=1, max_value=7))
def test_writer_reader_round_trip(rows: list[dict], per_file: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        writer = BatchWriter(
            kind="evaluate",
            mid=MID,
            business_date=date(2026, 11, 24),
            now=lambda: datetime(2026, 11, 25, tzinfo=timezone.utc),
            out_dir=tmp,
            rows_per_file=per_file,
            default_expiry=timedelta(days=22),
        )
        summary = writer.write([rows])
        manifest = read_manifest(summary["manifest"])
        assert summary["extracted"] == len(rows) == summary["written"] + summary["rejected"]
        read = []
        for entry in manifest.files:
            path = Path(tmp) / entry.name
            raw = path.read_bytes()
            assert b"4111111111111111" not in raw and b"5555 5555 5555 4444" not in raw  # noqa: PT018
            doc = json.loads(raw)  # one valid JSON document
            assert doc["rowCount"] == entry.rows == len(doc["rows"]) <= per_file
            assert [r["sequenceNumber"] for r in doc["rows"]] == [str(i) for i in range(1, entry.rows + 1)]
            first = raw.split(b"\n", 1)[0].decode()
            filled = fill_authorization_token(first, "tok.en.x")
            assert json.loads(filled + "]}")["authorizationToken"] == "Bearer tok.en.x"
            read.extend(r["order_id"] for r in iter_batch_rows(path))
        assert len(read) == len(set(read)) == summary["written"]
        good = {r["order_id"] for r in rows}
        assert set(read) <= good
        rejects = (Path(tmp) / Path(summary["rejects_file"]).name).read_text()
        assert "4111111111111111" not in rejects and "5555 5555 5555 4444" not in rejects  # noqa: PT018
        again = BatchWriter(kind="evaluate", mid=MID, business_date=date(2026, 11, 24), out_dir=tmp, now=lambda: datetime(2026, 11, 25, tzinfo=timezone.utc),
                            rows_per_file=per_file, default_expiry=timedelta(days=22)).write([rows])  # fmt: skip
        assert read_manifest(again["manifest"]).files == manifest.files  # byte-identical rerun


NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=300), flip=st.integers(min_value=0, max_value=10_000), skew=st.integers(-400, 400)
)
def test_webhook_verifier_accepts_exactly_the_signed_bytes(body: bytes, flip: int, skew: int) -> None:
    host = "airflow.example.com"
    sent = NOW + timedelta(seconds=skew)
    headers = sign_request(body, KEY, host, date=sent)
    if abs(skew) <= 300:
        assert verify_request(headers, body, [KEY], host, now=NOW).nonce == headers["x-fc-nonce"]
    else:
        _expect(headers, body, host, {"stale_date", "future_date"})
        return
    if body:
        i = flip % len(body)
        tampered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        _expect(headers, tampered, host, {"content_hash_mismatch"})
    _expect(headers, body, "evil.example.com", {"bad_signature"})
    other = sign_request(body, "b3RoZXIta2V5LTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=", host, date=sent)
    _expect({**headers, "x-fc-authorization": other["x-fc-authorization"]}, body, host, {"bad_signature"})


def _expect(headers: dict, body: bytes, host: str, reasons: set[str]) -> None:
    try:
        verify_request(headers, body, [KEY], host, now=NOW)
    except SignatureError as exc:
        assert exc.reason in reasons, exc.reason  # noqa: PT017
    else:
        raise AssertionError(f"accepted, expected {reasons}")


@settings(max_examples=3000, deadline=None)
@given(guid=st.uuids())
def test_no_guid_looks_like_a_card_number(guid) -> None:
    """Tokens, sense keys and MIDs are GUIDs; ~1 random GUID in 450 holds a Luhn-valid 13+ digit run."""
    assert not looks_like_pan(str(guid))
    assert not looks_like_pan(f"token={guid};")


@given(guid=st.uuids(), sep=st.sampled_from([" ", ",", "|", " and "]))
def test_a_card_number_next_to_a_guid_is_still_found_and_masked(guid, sep: str) -> None:
    from flex_provider.pci import mask_pans

    text = f"{guid}{sep}4111 1111 1111 1111{sep}{guid}"
    assert looks_like_pan(text)
    masked = mask_pans(text)
    assert "4111 1111 1111 1111" not in masked
    assert "411111******1111" in masked
    assert masked.startswith(str(guid))
    assert masked.endswith(str(guid))


def test_the_guid_that_used_to_be_taken_for_a_card_number() -> None:
    assert not looks_like_pan("20952833-5643-45d6-8d8a-123456789abc")
