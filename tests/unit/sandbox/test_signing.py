"""``flex_provider.sandbox.signing``: the ``x-fc-*`` headers of a webhook, in the layout of Flex's sample.

The signature's value against hand-computed vectors is held in ``tests/unit/webhooks/test_signature_vectors.py``;
here: the header layout, the defaults (nonce, date) and the keys it refuses.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest

from flex_provider.sandbox.signing import WebhookSigner

KEY = base64.b64encode(b"unit-test-subscriber-key").decode()


def test_headers_carry_the_body_hash_and_name_the_signed_headers_in_order() -> None:
    body = b'{"Event":"order.completed"}'
    sent = datetime(2026, 12, 1, 18, 30, tzinfo=timezone(timedelta(hours=2)))
    h = WebhookSigner(KEY).headers(body, "127.0.0.1:9000", nonce="n-1", date=sent)
    assert h["x-fc-content-sha512"] == base64.b64encode(hashlib.sha512(body).digest()).decode()
    assert h["x-fc-date"] == "Tue, 01 Dec 2026 16:30:00 GMT"  # RFC 1123, in GMT
    assert h["x-fc-nonce"] == "n-1"
    assert h["x-fc-authorization"] == (
        "HMAC-SHA512 SignedHeaders=x-fc-nonce;x-fc-date;host;x-fc-content-sha512&Signature=" + h["x-fc-signature"])
    assert len(base64.b64decode(h["x-fc-signature"])) == 64  # a SHA-512 MAC


def test_every_signed_value_changes_the_signature() -> None:
    signer = WebhookSigner(KEY)
    base = {"body": b"{}", "host": "a:1", "nonce": "n", "date": "Tue, 01 Dec 2026 10:00:00 GMT"}

    def sig(**change: object) -> str:
        args = {**base, **change}
        return signer.headers(args.pop("body"), args.pop("host"), **args)["x-fc-signature"]

    signatures = {sig(), sig(body=b"{ }"), sig(host="a:2"), sig(nonce="m"), sig(date="Tue, 01 Dec 2026 10:00:01 GMT")}
    assert len(signatures) == 5
    assert sig() != WebhookSigner(base64.b64encode(b"another key").decode()).headers(b"{}", "a:1", nonce="n",
                                                                                     date=base["date"])["x-fc-signature"]


def test_default_nonce_is_fresh_and_default_date_is_now() -> None:
    signer = WebhookSigner(KEY)
    first, second = signer.headers(b"", "h"), signer.headers(b"", "h")
    assert re.fullmatch(r"[0-9a-f]{32}", first["x-fc-nonce"])
    assert first["x-fc-nonce"] != second["x-fc-nonce"]
    sent = parsedate_to_datetime(first["x-fc-date"])
    assert abs((datetime.now(timezone.utc) - sent).total_seconds()) < 5


@pytest.mark.parametrize("bad", ["not base64!", "", "   "])
def test_a_key_that_is_not_base64_or_empty_fails_at_construction(bad: str) -> None:
    with pytest.raises(ValueError, match="subscriber key"):
        WebhookSigner(bad)
