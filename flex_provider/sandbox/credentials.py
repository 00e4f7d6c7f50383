"""The sandbox's one merchant account: mid, site id, API keys and the webhook key, all derived from the seed."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass

#: Namespace of every uuid5 the sandbox derives (mids, orders, transmits, API clients).
SANDBOX_NS = uuid.UUID("6f1e3c1a-6a3b-5d0e-9a57-0c6b1f4d2e11")


@dataclass(frozen=True)
class MerchantCredentials:
    """The sandbox's one merchant account; every value derives from the seed."""

    mid: str
    site_id: str
    app_key: str
    app_secret: str
    tokenization_key: str
    webhook_subscriber_key: str

    @classmethod
    def from_seed(cls, seed: int) -> MerchantCredentials:
        """Deterministic credentials: GUIDs by uuid5, secrets by SHA-256 of the seed."""

        def digest(label: str) -> bytes:
            return hashlib.sha256(f"flex-sandbox:{seed}:{label}".encode()).digest()

        return cls(
            mid=str(uuid.uuid5(SANDBOX_NS, f"mid:{seed}")),
            site_id=str(uuid.uuid5(SANDBOX_NS, f"site:{seed}")),
            app_key="sandbox-app-key",
            app_secret=digest("app-secret").hex()[:40],
            tokenization_key=digest("tokenization-key").hex()[:32],
            webhook_subscriber_key=base64.b64encode(digest("webhook-subscriber-key")).decode(),
        )

