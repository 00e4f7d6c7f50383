"""The sandbox's Flex API in-process (no server): a ``flex`` connection and clients bound to the ASGI app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from flex_provider.sandbox.api import create_app
from flex_provider.sandbox.state import SandboxState

BASE_URL = "http://flex.test/v1"


def sandbox_connection(state: SandboxState, monkeypatch: pytest.MonkeyPatch, conn_id: str = "flex_default") -> None:
    m = state.merchant
    conn = {"conn_type": "flex", "host": BASE_URL, "login": m.app_key, "password": m.app_secret,
            "extra": {"mid": m.mid, "max_retries": 0}}  # fmt: skip
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def sync_client(app: Any) -> httpx.Client:
    return TestClient(app, base_url=BASE_URL)


def async_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)


def new_state(tmp_path: Path) -> tuple[SandboxState, Any]:
    state = SandboxState(tmp_path, seed=3, clock_speed=0)
    return state, create_app(state)
