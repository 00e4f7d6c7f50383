"""The plugin mounts the receiver in a real ``airflow api-server``; a signed POST to /flex/webhooks is stored."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flex_provider.webhooks.store import WebhookStore
from tests.fixtures.webhooks import free_port
from tests.webhooks.test_receiver import payload, signed

BIN = Path(sys.executable).parent


@pytest.mark.slow  # ~50 s on a loaded 2-core machine (db migrate + api-server start); still runs by default
def test_plugin_mounts_receiver_in_api_server(tmp_path: Path, webhook_key: str):
    home = tmp_path / "airflow"
    home.mkdir()
    ledger = tmp_path / "ledger.db"
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW_CONN_FLEX_DEFAULT": json.dumps({
            "conn_type": "flex", "host": "http://127.0.0.1:1/v1", "login": "k", "password": "s",
            "extra": {"webhook_secret": webhook_key},
        }),
        "AIRFLOW__FLEX__LEDGER_CONN_ID": "flex_ledger",
        "AIRFLOW_CONN_FLEX_LEDGER": json.dumps({"conn_type": "sqlite", "host": str(ledger)}),
    }  # fmt: skip
    subprocess.run([BIN / "airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=240)
    log = (tmp_path / "api-server.log").open("wb")
    proc = subprocess.Popen(
        [BIN / "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/flex"
    try:
        deadline = time.monotonic() + 120
        with httpx.Client(timeout=10) as c:
            while True:
                assert proc.poll() is None, (tmp_path / "api-server.log").read_text()[-3000:]
                try:
                    if c.get(f"{base}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "api-server not healthy in 120 s"
                time.sleep(0.5)
            body = json.dumps(payload("ord-af")).encode()
            resp = c.post(f"{base}/webhooks", content=body, headers=signed(body, webhook_key, base))
            assert resp.status_code == 200, resp.text
            assert resp.json()["stored"] is True
            bad = c.post(f"{base}/webhooks", content=body, headers={"Content-Type": "application/json"})
            assert bad.status_code == 401  # Airflow puts no auth in front: the app checks callers itself
        store = WebhookStore.from_url(f"sqlite:///{ledger}")
        assert store.count_events() == 1
        assert store.order_state("ord-af")["status"] == "APPROVED"
        store.dispose()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
