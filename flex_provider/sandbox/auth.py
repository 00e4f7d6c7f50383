"""``POST /oauth2/token`` and the bearer-token check every other route starts with."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from typing import Any

from flex_provider.sandbox.credentials import SANDBOX_NS
from flex_provider.sandbox.order_store import OrderStore, envelope
from flex_provider.sandbox.problems import problem
from flex_provider.sandbox.schemas import TokenRequest, parse


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AuthMixin(OrderStore):
    """Access tokens: HS256 JWTs with a TTL on the sandbox clock, stored by hash only."""

    def issue_token(self, body: Any) -> tuple[int, dict[str, Any]]:
        """``POST /oauth2/token``: AppKey/AppSecret -> access token (TTL ``token_ttl`` on the sandbox clock)."""
        req, errors = parse(TokenRequest, body)
        if errors:
            return 400, problem(400, errors)
        assert isinstance(req, TokenRequest)
        m = self.merchant
        ok = hmac.compare_digest(req.app_key.encode(), m.app_key.encode()) & hmac.compare_digest(
            req.app_secret.encode(), m.app_secret.encode()
        )
        if not ok:
            return 400, problem(400, {"AppKey": ["Invalid AppKey or AppSecret."]})
        now = self.clock.timestamp()
        exp = now + self.token_ttl
        client_id = str(uuid.uuid5(SANDBOX_NS, f"client:{self.seed}:{m.app_key}"))
        claims = {
            "sub": client_id,
            "unique_name": client_id,
            "jti": str(uuid.uuid4()),
            "iat": str(int(now * 1000)),
            "aud": ["payments", "orders", "merchants", "eligibility-sftp", "eligibility", "contact"],
            "custom:mid": m.mid,
            "nbf": int(now),
            "exp": int(exp),
            "iss": "Api-Client-Service",
        }
        signing_input = f"{_b64url(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = _b64url(hmac.new(self._jwt_key, signing_input.encode(), hashlib.sha256).digest())
        token = f"{signing_input}.{signature}"
        with self._txn() as conn:
            conn.execute(
                "INSERT INTO tokens (token_hash, mid, issued_at, expires_at) VALUES (?,?,?,?)",
                (hashlib.sha256(token.encode()).hexdigest(), m.mid, now, exp),
            )
        return 200, envelope(
            accessToken=token,
            refreshToken=secrets.token_urlsafe(32),
            expires=int(exp * 1000),
            id=client_id,
            session=None,
            daysToEnforceMFA=None,
            skipAvailable=None,
        )

    def mid_for_token(self, bearer: str) -> str | None:
        """The mid of a live access token (``"Bearer x"`` or ``"x"``); None when unknown or expired."""
        if not bearer:
            return None
        token = bearer.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        with self._lock:
            row = self._conn.execute(
                "SELECT mid, expires_at FROM tokens WHERE token_hash=?",
                (hashlib.sha256(token.encode()).hexdigest(),),
            ).fetchone()
        if row is None or row["expires_at"] <= self.clock.timestamp():
            return None
        return str(row["mid"])
