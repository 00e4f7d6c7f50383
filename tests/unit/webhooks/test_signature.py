"""``flex_provider.webhooks.signature``: Flex's HMAC-SHA512 scheme, signed and verified (no servers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import pytest

from flex_provider.webhooks.signature import (
    SignatureError,
    format_http_date,
    sign_request,
    verify_request,
)

KEY = base64.b64encode(b"k" * 32).decode()
OTHER = base64.b64encode(b"o" * 32).decode()
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)


def test_sign_matches_the_documented_scheme():
    body = b'{"Event":"order.completed"}'
    nonce = "0123456789abcdef0123456789abcdef"
    headers = sign_request(body, KEY, "hooks.example:8443", nonce=nonce, date=NOW)
    date = "Wed, 25 Nov 2026 12:00:00 GMT"
    chash = base64.b64encode(hashlib.sha512(body).digest()).decode()
    sts = f"POST\n{nonce};{date};hooks.example:8443;{chash}"
    sig = base64.b64encode(hmac.new(b"k" * 32, sts.encode(), hashlib.sha512).digest()).decode()
    assert headers == {
        "x-fc-authorization": f"HMAC-SHA512 SignedHeaders=x-fc-nonce;x-fc-date;host;x-fc-content-sha512&Signature={sig}",
        "x-fc-content-sha512": chash,
        "x-fc-date": date,
        "x-fc-nonce": nonce,
        "x-fc-signature": sig,
    }
    assert format_http_date(NOW) == date


def _verify(headers, body=b"{}", keys=(KEY,), host="h", now=NOW, tolerance=300):
    return verify_request(headers, body, list(keys), host, tolerance_seconds=tolerance, now=now)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, b: (h, b + b" "), "content_hash_mismatch"),
        (lambda h, b: ({**h, "x-fc-content-sha512": base64.b64encode(hashlib.sha512(b"x").digest()).decode()}, b"x"),
         "bad_signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "x-fc-nonce"}, b), "missing_header"),
        (lambda h, b: ({**h, "x-fc-nonce": "nothex"}, b), "bad_nonce"),
        (lambda h, b: ({**h, "x-fc-date": "yesterday"}, b), "bad_date"),
        (lambda h, b: ({**h, "x-fc-authorization": "Bearer x"}, b), "bad_authorization"),
        (lambda h, b: ({**h, "x-fc-authorization": h["x-fc-authorization"].replace("host;", "")}, b),
         "bad_signed_headers"),
    ],
)  # fmt: skip
def test_verify_rejects(mutate, reason):
    body = b'{"a":1}'
    headers, body = mutate(sign_request(body, KEY, "h", date=NOW), body)
    with pytest.raises(SignatureError) as err:
        _verify(headers, body)
    assert err.value.reason == reason


def test_verify_window_host_and_rotation():
    body = b"{}"
    ok = sign_request(body, KEY, "h", date=NOW)
    assert _verify(ok, body).key_index == 0
    assert _verify(ok, body, keys=(OTHER, KEY)).key_index == 1  # rotation: the old key still matches
    with pytest.raises(SignatureError, match="signature"):
        _verify(ok, body, keys=(OTHER,))
    with pytest.raises(SignatureError, match="signature"):
        _verify(ok, body, host="evil")
    with pytest.raises(SignatureError) as stale:
        _verify(ok, body, now=NOW + timedelta(seconds=301))
    assert stale.value.reason == "stale_date"
    with pytest.raises(SignatureError) as future:
        _verify(ok, body, now=NOW - timedelta(seconds=301))
    assert future.value.reason == "future_date"
    assert _verify(ok, body, now=NOW + timedelta(seconds=299))
