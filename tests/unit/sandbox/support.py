"""Small builders the sandbox unit tests share: a declined MIT row and a token, on a real ``SandboxState``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flex_provider.sandbox.state import SandboxState

DAY = 86400.0


def mit_row(state: SandboxState, order_id: str | None = None, *, amount: int = 1999, currency: str = "USD",
            seq: int | None = None) -> dict[str, Any]:
    """An /evaluate body (or evaluate batch row) for a declined MIT renewal, expiring in 14 sandbox days."""
    row: dict[str, Any] = {
        "isDeclined": True, "isMIT": True, "orderId": order_id or f"sub-{uuid.uuid4()}",
        "idempotencyKey": str(uuid.uuid4()),
        "expiryDateUtc": (state.clock.now() + timedelta(days=14)).isoformat(),
        "transaction": {"id": "t-1", "amount": amount, "currency": currency},
        "paymentMethod": {"cardNumber": "tok-x", "token": True},
    }
    if seq is not None:
        row["sequenceNumber"] = str(seq)
    return row


def bearer(state: SandboxState) -> str:
    """A fresh access token of the sandbox merchant."""
    m = state.merchant
    status, body = state.issue_token({"appKey": m.app_key, "appSecret": m.app_secret})
    assert status == 200, body
    return body["accessToken"]
