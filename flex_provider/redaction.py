"""Redaction of payloads before anything about them is logged: secrets out, card numbers masked."""

from __future__ import annotations

from typing import Any

from flex_provider.pci import mask_pans

# Keys whose values never reach a log, whatever their case (ActiveMerchant scrubs the same list).
SENSITIVE_KEYS = frozenset(
    k.lower()
    for k in (
        "AppKey",
        "AppSecret",
        "accessToken",
        "refreshToken",
        "authorizationToken",
        "Authorization",
        "cardNumber",
        "number",
        "verification_value",
        "verificationValue",
        "cvv",
        "environment",
        "tokenization_key",
        "webhook_subscriber_key",
        "webhook_secret",
        "webhook_secrets",
        "password",
    )
)
REDACTED = "***"


def redact(payload: Any) -> Any:
    """Return a copy of ``payload`` safe to log: sensitive keys replaced, card numbers masked in text."""
    if isinstance(payload, dict):
        return {k: (REDACTED if str(k).lower() in SENSITIVE_KEYS else redact(v)) for k, v in payload.items()}
    if isinstance(payload, (list, tuple)):
        return [redact(v) for v in payload]
    if isinstance(payload, str):
        return mask_pans(payload)
    return payload
