"""``flex_provider.sandbox.credentials``: one merchant per seed, the same on every start, secrets well-formed."""

from __future__ import annotations

import base64
import hashlib
import uuid

from flex_provider.sandbox.credentials import SANDBOX_NS, MerchantCredentials


def test_the_same_seed_gives_the_same_merchant_and_another_seed_another() -> None:
    a, b = MerchantCredentials.from_seed(7), MerchantCredentials.from_seed(8)
    assert MerchantCredentials.from_seed(7) == a
    assert {a.mid, a.site_id, a.app_secret, a.tokenization_key} & {b.mid, b.site_id, b.app_secret,
                                                                   b.tokenization_key} == set()


def test_values_follow_the_documented_derivation() -> None:
    c = MerchantCredentials.from_seed(7)
    assert c.mid == str(uuid.uuid5(SANDBOX_NS, "mid:7"))
    assert c.site_id == str(uuid.uuid5(SANDBOX_NS, "site:7"))
    assert c.app_secret == hashlib.sha256(b"flex-sandbox:7:app-secret").hexdigest()[:40]
    key = base64.b64decode(c.webhook_subscriber_key)
    assert key == hashlib.sha256(b"flex-sandbox:7:webhook-subscriber-key").digest()  # 32 bytes, base64
