"""
Fixed webhook signature vectors, computed once by hand from Flex's scheme (shared/flex-api.md 3.4), held
against both sides: the receiver's verifier (``flex_provider.webhooks.signature``) and the sandbox's own
signer (``flex_provider.sandbox.signing``). Neither side's code made the expected values, so a mistake in
one of them can no longer hide behind the same mistake in the other.

How the literals were made (OpenSSL 3, bash), for the first vector::

    KEY='flex-test-vector-key-0123456789!'            # 32 bytes; subscriber key = base64 of it
    printf '%s' "$BODY" | openssl dgst -sha512 -binary | base64 -w0            # -> CONTENT_SHA512
    printf 'POST\\n%s;%s;%s;%s' "$NONCE" "$DATE" "$HOST" "$CONTENT_SHA512" \\
        | openssl dgst -sha512 -mac HMAC -macopt hexkey:$(printf '%s' "$KEY" | xxd -p -c 256) -binary \\
        | base64 -w0                                                          # -> SIGNATURE
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flex_provider.sandbox.signing import WebhookSigner
from flex_provider.webhooks.signature import SignatureError, verify_request

SUBSCRIBER_KEY = "ZmxleC10ZXN0LXZlY3Rvci1rZXktMDEyMzQ1Njc4OSE="  # base64("flex-test-vector-key-0123456789!")
NONCE = "0123456789abcdef0123456789abcdef"
DATE = "Mon, 20 Mar 2023 17:16:40 GMT"
SENT_AT = datetime(2023, 3, 20, 17, 16, 40, tzinfo=timezone.utc)
HOST = "merchant.example:8443"
BODY = (
    b'{"Event":"order.completed","OrderId":"9d6c1f0e-1111-4a2b-9c3d-000000000001","ExternalOrderId":"sub-0001",'
    b'"ConfirmationId":"22ACD1D9","TimeStamp":"2023-03-20T17:16:40.898703Z","IsTestMode":true,"IsResent":false}'
)
CONTENT_SHA512 = "O728OY2PhHEFP7XQ+gAJTmOdgP0qA2LyNvlvoJZXDoZa4l5CxaSOtoKWIxyclkMz10kFD7x7EeftvdOshYdg/w=="
SIGNATURE = "z1lSRnJWtadfuLii5APj11h73F5cFWY1G8M/Oys46D5wztAk3SFaHaTF2RkW2G5tSYzHOMJTbLPFNgpOmkXNEA=="

#: A second vector: empty body, another key, nonce, date and host (computed the same way).
EMPTY = {
    "key": "c2Vjb25kLXZlY3Rvci1rZXk=",  # base64("second-vector-key")
    "nonce": "ffffffffffffffff0000000000000000",
    "date": "Tue, 01 Dec 2026 10:00:00 GMT",
    "sent_at": datetime(2026, 12, 1, 10, 0, 0, tzinfo=timezone.utc),
    "host": "127.0.0.1:8081",
    "body": b"",
    "content": "z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
    "signature": "WuAF/QthLFTO5D04PPVB3fzZWMFIxZJHl37J8Y+G6Qeou0P4sojiUXZWsTqzaIv38zdzMYjVdINR3JG6VGksgQ==",
}

VECTORS = [
    (SUBSCRIBER_KEY, NONCE, DATE, SENT_AT, HOST, BODY, CONTENT_SHA512, SIGNATURE),
    tuple(EMPTY[k] for k in ("key", "nonce", "date", "sent_at", "host", "body", "content", "signature")),
]
SIGNED_HEADERS = "x-fc-nonce;x-fc-date;host;x-fc-content-sha512"


def _headers(nonce: str, date: str, content: str, signature: str) -> dict[str, str]:
    return {
        "x-fc-authorization": f"HMAC-SHA512 SignedHeaders={SIGNED_HEADERS}&Signature={signature}",
        "x-fc-content-sha512": content,
        "x-fc-date": date,
        "x-fc-nonce": nonce,
        "x-fc-signature": signature,
    }


@pytest.mark.parametrize(("key", "nonce", "date", "sent_at", "host", "body", "content", "signature"), VECTORS,
                         ids=["order-completed", "empty-body"])
def test_sandbox_signer_produces_the_hand_computed_headers(key, nonce, date, sent_at, host, body, content,
                                                            signature) -> None:
    signer = WebhookSigner(key)
    assert signer.headers(body, host, nonce=nonce, date=date) == _headers(nonce, date, content, signature)
    assert signer.headers(body, host, nonce=nonce, date=sent_at)["x-fc-date"] == date


@pytest.mark.parametrize(("key", "nonce", "date", "sent_at", "host", "body", "content", "signature"), VECTORS,
                         ids=["order-completed", "empty-body"])
def test_receiver_accepts_the_hand_computed_signature(key, nonce, date, sent_at, host, body, content,
                                                      signature) -> None:
    verified = verify_request(_headers(nonce, date, content, signature), body, [key], host, now=sent_at)
    assert (verified.nonce, verified.date, verified.key_index) == (nonce, sent_at, 0)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"host": "merchant.example"}, "bad_signature"),  # signed for another Host
        ({"nonce": "0123456789abcdef0123456789abcdee"}, "bad_signature"),
        ({"date": "Mon, 20 Mar 2023 17:16:41 GMT"}, "bad_signature"),
        ({"body": BODY.replace(b"22ACD1D9", b"22ACD1D8")}, "content_hash_mismatch"),
        ({"key": "c2Vjb25kLXZlY3Rvci1rZXk="}, "bad_signature"),
    ],
)
def test_receiver_refuses_the_vector_with_one_input_changed(change: dict, reason: str) -> None:
    given = {"key": SUBSCRIBER_KEY, "nonce": NONCE, "date": DATE, "host": HOST, "body": BODY, **change}
    headers = {**_headers(NONCE, DATE, CONTENT_SHA512, SIGNATURE),
               "x-fc-nonce": given["nonce"], "x-fc-date": given["date"]}
    with pytest.raises(SignatureError) as err:
        verify_request(headers, given["body"], [given["key"]], given["host"], now=SENT_AT)
    assert err.value.reason == reason
