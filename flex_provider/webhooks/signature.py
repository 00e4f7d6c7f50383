"""Flex webhook signatures (HMAC-SHA512, ``x-fc-*`` headers): signing for the sandbox, verifying for us.

Scheme (official Node sample, flex-api.md section 3.4):

* ``x-fc-content-sha512 = base64(SHA512(raw body))``
* ``string_to_sign = "POST\\n" + nonce + ";" + date + ";" + host + ";" + content_hash``
* ``signature = base64(HMAC_SHA512(key=base64decode(subscriber_key), string_to_sign))``
* ``x-fc-authorization: HMAC-SHA512 SignedHeaders=x-fc-nonce;x-fc-date;host;x-fc-content-sha512&Signature=<b64>``

Ours on top (Flex documents no replay window): ``x-fc-date`` must be within ``tolerance`` seconds of now,
in the past *and* the future, and the nonce (32 hex chars) must not repeat inside that window (the store
enforces the latter). Several keys may be given for zero-downtime rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

from flex_provider.utc import to_utc

SCHEME = "HMAC-SHA512"
SIGNED_HEADERS = "x-fc-nonce;x-fc-date;host;x-fc-content-sha512"
DEFAULT_TOLERANCE_SECONDS = 300

H_AUTHORIZATION = "x-fc-authorization"
H_CONTENT = "x-fc-content-sha512"
H_DATE = "x-fc-date"
H_NONCE = "x-fc-nonce"
H_SIGNATURE = "x-fc-signature"

_NONCE_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_AUTH_RE = re.compile(
    r"^HMAC-SHA512\s+SignedHeaders=(?P<signed>[^&\s]+)&Signature=(?P<sig>[A-Za-z0-9+/=]+)\s*$"
)


class SignatureError(Exception):
    """The request is not authentic; ``reason`` is a short machine-readable code for the 401 body."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class VerifiedRequest:
    """What a successful verification established."""

    nonce: str
    date: datetime
    key_index: int


def decode_key(subscriber_key_b64: str) -> bytes:
    """Decode a base64 subscriber key; raises ``ValueError`` on bad input or an empty key."""
    try:
        key = base64.b64decode(subscriber_key_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("subscriber key is not valid base64") from exc
    if not key:
        raise ValueError("subscriber key is empty")
    return key


def content_hash(body: bytes) -> str:
    """``base64(SHA512(body))``."""
    return base64.b64encode(hashlib.sha512(body).digest()).decode("ascii")


def string_to_sign(nonce: str, date: str, host: str, body_hash: str) -> str:
    """The exact text that is HMAC'd."""
    return f"POST\n{nonce};{date};{host};{body_hash}"


def compute_signature(key: bytes, nonce: str, date: str, host: str, body_hash: str) -> str:
    """``base64(HMAC_SHA512(key, string_to_sign))`` with an already-decoded key."""
    mac = hmac.new(key, string_to_sign(nonce, date, host, body_hash).encode("utf-8"), hashlib.sha512)
    return base64.b64encode(mac.digest()).decode("ascii")


def format_http_date(moment: datetime) -> str:
    """RFC 1123 date in GMT, e.g. ``Mon, 20 Mar 2023 17:16:40 GMT``."""
    return format_datetime(to_utc(moment), usegmt=True)


def new_nonce() -> str:
    """32 random hex characters."""
    return secrets.token_hex(16)


def sign_request(
    body: bytes,
    subscriber_key_b64: str,
    host: str,
    *,
    nonce: str | None = None,
    date: datetime | str | None = None,
) -> dict[str, str]:
    """Return the ``x-fc-*`` headers for a POST of ``body`` to ``host`` (the Host header value)."""
    key = decode_key(subscriber_key_b64)
    nonce = nonce or new_nonce()
    if date is None:
        date = datetime.now(timezone.utc)
    date_str = date if isinstance(date, str) else format_http_date(date)
    body_hash = content_hash(body)
    sig = compute_signature(key, nonce, date_str, host, body_hash)
    return {
        H_AUTHORIZATION: f"{SCHEME} SignedHeaders={SIGNED_HEADERS}&Signature={sig}",
        H_CONTENT: body_hash,
        H_DATE: date_str,
        H_NONCE: nonce,
        H_SIGNATURE: sig,
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.title())
    return value


def verify_request(
    headers: Mapping[str, str],
    body: bytes,
    keys: Sequence[bytes | str],
    host: str,
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: datetime | None = None,
) -> VerifiedRequest:
    """Check a delivery on its raw bytes; raise :class:`SignatureError` unless it is authentic and fresh.

    ``headers`` should be case-insensitive (Starlette's are). ``keys`` are decoded bytes or base64 strings;
    any may match (rotation). ``host`` is the Host the sender signed for (the request's Host header).
    """
    auth = _header(headers, H_AUTHORIZATION)
    date_str = _header(headers, H_DATE)
    nonce = _header(headers, H_NONCE)
    claimed_hash = _header(headers, H_CONTENT)
    missing = [
        n
        for n, v in ((H_AUTHORIZATION, auth), (H_DATE, date_str), (H_NONCE, nonce), (H_CONTENT, claimed_hash))
        if not v
    ]
    if missing:
        raise SignatureError("missing_header", f"missing header(s): {', '.join(missing)}")
    auth, date_str, nonce, claimed_hash = str(auth), str(date_str), str(nonce), str(claimed_hash)
    match = _AUTH_RE.match(auth.strip())
    if not match:
        raise SignatureError(
            "bad_authorization", f"{H_AUTHORIZATION} is not '{SCHEME} SignedHeaders=...&Signature=...'"
        )
    if match["signed"].lower() != SIGNED_HEADERS:
        raise SignatureError("bad_signed_headers", f"SignedHeaders must be {SIGNED_HEADERS}")
    if not _NONCE_RE.match(nonce):
        raise SignatureError("bad_nonce", f"{H_NONCE} must be 32 hex characters")

    try:
        sent_at = parsedate_to_datetime(date_str)
    except (TypeError, ValueError):
        raise SignatureError("bad_date", f"{H_DATE} is not an RFC 1123 date") from None
    if sent_at is None or sent_at.tzinfo is None:
        raise SignatureError("bad_date", f"{H_DATE} must carry a zone (GMT)")
    now = now or datetime.now(timezone.utc)
    skew = (now - sent_at).total_seconds()
    if tolerance_seconds and skew > tolerance_seconds:
        raise SignatureError(
            "stale_date", f"{H_DATE} is {int(skew)} s old (tolerance {int(tolerance_seconds)} s)"
        )
    if tolerance_seconds and -skew > tolerance_seconds:
        raise SignatureError(
            "future_date", f"{H_DATE} is {int(-skew)} s in the future (tolerance {int(tolerance_seconds)} s)"
        )

    body_hash = content_hash(body)
    if not hmac.compare_digest(body_hash.encode(), claimed_hash.strip().encode()):
        raise SignatureError("content_hash_mismatch", f"{H_CONTENT} does not match the body")

    given = match["sig"].encode("ascii")
    matched = -1
    for index, key in enumerate(keys):
        raw_key = decode_key(key) if isinstance(key, str) else key
        expected = compute_signature(raw_key, nonce, date_str, host, body_hash).encode("ascii")
        if hmac.compare_digest(expected, given) and matched < 0:
            matched = index
    if matched < 0:
        raise SignatureError("bad_signature", "signature does not match")
    return VerifiedRequest(nonce=nonce.lower(), date=sent_at.astimezone(timezone.utc), key_index=matched)
