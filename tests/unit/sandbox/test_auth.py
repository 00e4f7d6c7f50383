"""``flex_provider.sandbox.auth``: the app key and secret get a bearer token that lives its TTL on the sandbox clock."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from flex_provider.sandbox.state import SandboxState


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_a_token_names_the_merchant_and_expires_on_the_sandbox_clock(tmp_path: Path) -> None:
    state = SandboxState(tmp_path, seed=5, clock_speed=0, token_ttl=600)
    m = state.merchant
    status, body = state.issue_token({"appKey": m.app_key, "appSecret": m.app_secret})
    assert status == 200
    token = body["accessToken"]
    now = state.clock.timestamp()
    assert _claims(token)["custom:mid"] == m.mid
    assert abs(body["expires"] - (now + 600) * 1000) < 1000  # epoch milliseconds
    assert state.mid_for_token(f"Bearer {token}") == m.mid
    assert state.mid_for_token(f"  bearer {token}") == m.mid
    state.clock.advance(599)
    assert state.mid_for_token(token) == m.mid
    state.clock.advance(2)
    assert state.mid_for_token(token) is None
    state.close()


def test_a_wrong_secret_or_an_unknown_token_gets_nothing(tmp_path: Path) -> None:
    state = SandboxState(tmp_path, seed=5, clock_speed=0)
    status, body = state.issue_token({"appKey": state.merchant.app_key, "appSecret": "wrong"})
    assert status == 400
    assert body["errors"] == {"AppKey": ["Invalid AppKey or AppSecret."]}
    assert state.mid_for_token("Bearer not-a-token") is None
    assert state.mid_for_token("") is None
    state.close()
