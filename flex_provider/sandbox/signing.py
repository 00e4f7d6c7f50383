"""How the sandbox signs its webhooks, written from Flex's scheme and not from the receiver's code.

Flex's official Node sample (shared/flex-api.md section 3.4) signs a POST like this:

1. ``x-fc-content-sha512`` = base64 of the SHA-512 of the raw body;
2. the text to sign is ``"POST\\n" + nonce + ";" + date + ";" + host + ";" + content hash``;
3. the signature is base64 of HMAC-SHA512 over that text, keyed with the base64-decoded subscriber key;
4. ``x-fc-authorization: HMAC-SHA512 SignedHeaders=x-fc-nonce;x-fc-date;host;x-fc-content-sha512&Signature=..``.

The sandbox stands for Flex, so it must not borrow ``flex_provider.webhooks.signature``: a mistake there
would then sign and verify alike and no test would notice. Fixed vectors in
``tests/webhooks/test_signature_vectors.py`` hold both sides to the same hand-computed values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timezone
from email.utils import format_datetime

_SIGNED = "x-fc-nonce;x-fc-date;host;x-fc-content-sha512"


class WebhookSigner:
    """Signs deliveries with one merchant's subscriber key (base64, as Flex's portal shows it)."""

    def __init__(self, subscriber_key_b64: str) -> None:
        """Decode the key now, so a bad one fails at start-up, not at the first event."""
        try:
            self._key = base64.b64decode(subscriber_key_b64.strip(), validate=True)
        except ValueError as exc:  # binascii.Error is a ValueError
            raise ValueError("the webhook subscriber key is not base64") from exc
        if not self._key:
            raise ValueError("the webhook subscriber key is empty")

    def headers(self, body: bytes, host: str, *, nonce: str | None = None,
                date: datetime | str | None = None) -> dict[str, str]:
        """The ``x-fc-*`` headers of a POST of ``body`` to ``host`` (the receiver's Host header value).

        ``nonce`` defaults to 32 random hex characters, ``date`` to now, sent as an RFC 1123 GMT date.
        """
        nonce = nonce or secrets.token_hex(16)
        when = date if date is not None else datetime.now(timezone.utc)
        if isinstance(when, datetime):
            when = format_datetime(when.astimezone(timezone.utc), usegmt=True)
        digest = base64.b64encode(hashlib.sha512(body).digest()).decode("ascii")
        signed_values = [nonce, when, host, digest]  # the order of SignedHeaders
        text = "POST\n" + ";".join(signed_values)
        mac = hmac.new(self._key, text.encode("utf-8"), hashlib.sha512).digest()
        signature = base64.b64encode(mac).decode("ascii")
        return {
            "x-fc-authorization": f"HMAC-SHA512 SignedHeaders={_SIGNED}&Signature={signature}",
            "x-fc-content-sha512": digest,
            "x-fc-date": when,
            "x-fc-nonce": nonce,
            "x-fc-signature": signature,
        }
