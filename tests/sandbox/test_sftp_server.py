"""The sandbox's SFTP server (asyncssh) and batch processor, driven by Airflow's SFTPHook and asyncssh.

The server runs in its own event loop thread (paramiko is blocking); the processor runs against a small
fake of the documented ``SandboxState`` methods, and once against the real sandbox subprocess.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from flex_provider.sandbox.batches import BatchProcessor
from flex_provider.sandbox.sftp_server import control_for, public_key_line, start_sftp_server

MID = "6a1c0b0e-3f7e-4c55-9a57-1f2b3c4d5e6f"
TOKEN = "good-token"


@dataclass
class FakeEvent:
    event: str
    order_id: str
    external_order_id: str
    mid: str = MID
    status: str = "APPROVED"
    confirmation_id: str | None = "22ACD1D9"
    amount: int = 1999
    currency: str = "USD"
    timestamp: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc))


class FakeClock:
    def now(self) -> datetime:
        return datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)


class FakeState:
    """Just the documented methods the batch processor uses; evaluate is idempotent by idempotencyKey."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.calls: list[tuple[str, str, dict[str, Any], str]] = []
        self.orders: dict[str, str] = {}
        self.listeners: list[Any] = []

    def mid_for_token(self, bearer: str) -> str | None:
        return MID if bearer == TOKEN else None

    def add_listener(self, fn: Any) -> None:
        self.listeners.append(fn)

    def emit(self, ev: FakeEvent) -> None:
        for fn in self.listeners:
            fn(ev)

    def evaluate(self, mid: str, body: dict[str, Any], *, source: str = "api") -> tuple[int, dict[str, Any]]:
        self.calls.append(("evaluate", mid, body, source))
        if "amount" not in body.get("transaction", {}):
            return 400, {
                "status": 400,
                "title": "One or more validation errors occurred.",
                "errors": {"Transaction.Amount": ["The Amount field is required."]},
            }
        key = body["idempotencyKey"]
        osk = self.orders.setdefault(key, str(uuid.uuid4()))
        return 200, {"orderSessionKey": osk, "orderId": osk, "success": True, "status": "SUBMITTED"}

    def transmit(self, mid: str, body: dict[str, Any], *, source: str = "api") -> tuple[int, dict[str, Any]]:
        self.calls.append(("transmit", mid, body, source))
        return 200, {"transmitId": f"t-{body['orderId']}", "success": True, "result": "Success"}


def evaluate_file(
    rows: list[dict[str, Any]], *, token: str = TOKEN, mid: str = MID, n: int | None = None
) -> bytes:
    env = {
        "fileType": "evaluate", "schemaVersion": 1, "mid": mid, "businessDate": "2026-11-24", "fileNumber": 1,
        "rowCount": len(rows) if n is None else n, "expiryDateUtc": "2026-12-15T00:00:00Z",
        "authorizationToken": f"Bearer {token}",
    }  # fmt: skip
    head = json.dumps(env)[:-1] + ',"rows":[\n'
    return (head + ",\n".join(json.dumps(r) for r in rows) + "\n]}\n").encode()


def row(seq: int, order: str, *, mid: str = MID, **kw: Any) -> dict[str, Any]:
    r = {
        "sequenceNumber": str(seq), "isDeclined": True, "isMIT": True, "mid": mid, "orderId": order,
        "idempotencyKey": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{mid}:{order}:evaluate")),
        "transaction": {"id": f"tx-{order}", "amount": 1999, "currency": "USD"},
    }  # fmt: skip
    r.update(kw)
    return r


def read_lines_doc(path: Path) -> dict[str, Any]:
    text = path.read_text()
    assert text.splitlines()[0].endswith('"rows":[')
    return json.loads(text)


@dataclass
class Env:
    port: int
    root: Path
    home: Path
    client_key: Path
    other_key: Path
    host_key: str
    state: FakeState
    processor: BatchProcessor
    loop: asyncio.AbstractEventLoop

    def conn_json(self, **extra: Any) -> str:
        merged = {"key_file": str(self.client_key), "host_key": self.host_key, "compress": False, **extra}
        return json.dumps(
            {
                "conn_type": "sftp",
                "host": "127.0.0.1",
                "port": self.port,
                "login": "merchant",
                "extra": merged,
            }
        )

    def client(self, key: Path | None = None, **kw: Any) -> Any:
        return asyncssh.connect(
            "127.0.0.1", self.port, username=kw.pop("username", "merchant"),
            known_hosts=asyncssh.import_known_hosts(f"[127.0.0.1]:{self.port} {self.host_key}\n"),
            client_keys=[str(key or self.client_key)] if key is not False else None, **kw,
        )  # fmt: skip

    def ready_all(self) -> list[str]:
        """Two polls: files renamed into place go on the first, size-stable ones on the second."""
        return self.processor.process_pending() + self.processor.process_pending()


@pytest.fixture
def sftp_env(tmp_path: Path) -> Iterator[Env]:
    keys = tmp_path / "keys"
    keys.mkdir()
    client_key, other_key = keys / "client_ed25519", keys / "other_ed25519"
    for p in (client_key, other_key):
        k = asyncssh.generate_private_key("ssh-ed25519")
        p.write_bytes(k.export_private_key())
        p.chmod(0o600)
        Path(f"{p}.pub").write_bytes(k.export_public_key())
    root = tmp_path / "sftp"
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    acceptor = asyncio.run_coroutine_threadsafe(
        start_sftp_server(
            None,
            root,
            host_key_path=keys / "host_ed25519",
            authorized_keys={"merchant": Path(f"{client_key}.pub")},
        ),
        loop,
    ).result(10)
    state = FakeState()
    processor = BatchProcessor(state, root, accounts={"merchant": MID}, result_flush_seconds=0)
    try:
        yield Env(
            port=acceptor.get_port(), root=root, home=root / "merchant", client_key=client_key,
            other_key=other_key, host_key=public_key_line(keys / "host_ed25519"), state=state,
            processor=processor, loop=loop,
        )  # fmt: skip
    finally:
        loop.call_soon_threadsafe(acceptor.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        processor.close()


def test_sftphook_key_auth_jail_put_rename(
    sftp_env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    monkeypatch.setenv("AIRFLOW_CONN_FLEX_SFTP_TEST", sftp_env.conn_json())
    local = tmp_path / "evaluate_x.json"
    local.write_bytes(evaluate_file([row(1, "sub-1")]))
    hook = SFTPHook(ssh_conn_id="flex_sftp_test", conn_retry_attempts=1)
    assert sorted(hook.list_directory("/")) == ["archive", "inbound", "outbound", "quarantine"]
    # the jail: "..", absolute paths and the real local path all stay inside the account's root
    assert sorted(hook.list_directory("/../..")) == ["archive", "inbound", "outbound", "quarantine"]
    assert not hook.path_exists(str(sftp_env.root))
    hook.store_file("inbound/evaluate_x.json.part", str(local))  # put + stat (confirm)
    with hook.get_managed_conn() as sftp:
        sftp.posix_rename("inbound/evaluate_x.json.part", "inbound/evaluate_x.json")
        attrs = {a.filename: a for a in sftp.listdir_attr("inbound")}
        assert set(attrs) == {"evaluate_x.json"}
        assert attrs["evaluate_x.json"].st_size == local.stat().st_size
        sftp.mkdir("inbound/tmpdir")
        sftp.rmdir("inbound/tmpdir")
    assert (sftp_env.home / "inbound" / "evaluate_x.json").read_bytes() == local.read_bytes()
    # renamed into place -> picked up on the first poll
    assert sftp_env.processor.process_pending() == ["ack_evaluate_x.json"]
    described = hook.describe_directory("outbound")
    assert described["ack_evaluate_x.json"]["size"] > 0
    hook.delete_file("outbound/ack_evaluate_x.json")
    assert hook.list_directory("outbound") == []
    hook.close_conn()


def test_auth_refusals_and_asyncssh_client(sftp_env: Env) -> None:
    async def go() -> None:
        async with sftp_env.client() as conn, conn.start_sftp_client() as sftp:
            assert sorted(await sftp.listdir("/")) == [
                ".",
                "..",
                "archive",
                "inbound",
                "outbound",
                "quarantine",
            ]
            await sftp.chdir("/..")
            assert await sftp.getcwd() == "/"
        with pytest.raises(asyncssh.PermissionDenied):
            await sftp_env.client(key=sftp_env.other_key)
        with pytest.raises(asyncssh.PermissionDenied):
            await sftp_env.client(
                key=False, password="merchant", preferred_auth="password,keyboard-interactive"
            )
        with pytest.raises(asyncssh.PermissionDenied):
            await sftp_env.client(username="root")

    asyncio.run(go())


def test_asyncssh_upload_evaluate_ack_archive_and_idempotent_reupload(sftp_env: Env, tmp_path: Path) -> None:
    bad = row(2, "sub-2")
    del bad["transaction"]["amount"]
    rows = [row(1, "sub-1", expiryDateUtc="2026-12-20T00:00:00Z"), bad, row(3, "sub-3")]
    name = f"evaluate_{MID}_20261124_0001.json"

    async def upload(data: bytes) -> None:
        async with sftp_env.client() as conn, conn.start_sftp_client() as sftp:
            async with sftp.open(f"inbound/{name}.part", "wb") as f:
                await f.write(data)
            await sftp.posix_rename(f"inbound/{name}.part", f"inbound/{name}")

    asyncio.run(upload(evaluate_file(rows)))
    assert sftp_env.processor.process_pending() == [f"ack_evaluate_{MID}_20261124_0001.json"]
    ack = read_lines_doc(sftp_env.home / "outbound" / f"ack_evaluate_{MID}_20261124_0001.json")
    assert (ack["status"], ack["rowCount"], ack["accepted"], ack["rejected"]) == ("PROCESSED", 3, 2, 1)
    assert [r["status"] for r in ack["rows"]] == ["SUBMITTED", "REJECTED", "SUBMITTED"]
    assert all(ack["rows"][i]["orderSessionKey"] for i in (0, 2))
    assert ack["rows"][1] == {
        "sequenceNumber": "2", "orderId": "sub-2", "orderSessionKey": None, "status": "REJECTED",
        "errors": [{"field": "Transaction.Amount", "message": "The Amount field is required."}],
    }  # fmt: skip
    calls = sftp_env.state.calls
    assert [(c[0], c[3]) for c in calls] == [("evaluate", "sftp")] * 3
    assert calls[0][2]["expiryDateUtc"] == "2026-12-20T00:00:00Z"  # the row's own wins
    assert calls[2][2]["expiryDateUtc"] == "2026-12-15T00:00:00Z"  # falls back to the envelope's
    assert (sftp_env.home / "archive" / name).exists()
    assert list((sftp_env.home / "inbound").iterdir()) == []

    # same name, same rows (the shipper's fresh token only changes line 1): no new orders, same ack
    first_ack = (sftp_env.home / "outbound" / f"ack_evaluate_{MID}_20261124_0001.json").read_bytes()
    sftp_env.state.mid_for_token = lambda t: MID  # type: ignore[method-assign]
    asyncio.run(upload(evaluate_file(rows, token="fresh-token")))
    assert sftp_env.processor.process_pending() == [f"ack_evaluate_{MID}_20261124_0001.json"]
    assert len(sftp_env.state.calls) == 3
    assert (sftp_env.home / "outbound" / f"ack_evaluate_{MID}_20261124_0001.json").read_bytes() == first_ack
    assert (sftp_env.home / "archive" / f"{name}.1").exists()


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "invalid_json"),
        (evaluate_file([row(1, "a")], token="expired"), "invalid_token"),
        (evaluate_file([row(1, "a")], mid="00000000-0000-0000-0000-000000000000"), "wrong_mid"),
        (evaluate_file([row(i, f"o{i}") for i in range(1, 2002)]), "too_many_rows"),
        (evaluate_file([row(1, "a")], n=5), "row_count"),
        (json.dumps({"fileType": "transmit", "mid": MID, "rows": []}).encode(), "file_type"),
    ],
)
def test_bad_file_rejected_and_quarantined(sftp_env: Env, content: bytes, code: str) -> None:
    name = f"evaluate_{MID}_20261124_0002.json"
    (sftp_env.home / "inbound" / name).write_bytes(content)
    assert sftp_env.ready_all() == [f"ack_evaluate_{MID}_20261124_0002.json"]
    ack = read_lines_doc(sftp_env.home / "outbound" / f"ack_evaluate_{MID}_20261124_0002.json")
    assert ack["status"] == "REJECTED"
    assert ack["rows"] == []
    assert [e["code"] for e in ack["fileErrors"]] == [code]
    assert (sftp_env.home / "quarantine" / name).read_bytes() == content
    assert sftp_env.state.calls == []


def test_pickup_rules_and_transmit_csv(sftp_env: Env) -> None:
    inbound = sftp_env.home / "inbound"
    csv_text = (
        "sequenceNumber,mid,orderId,isDeclined,isMIT,transaction.id,transaction.amount,transaction.currency\r\n"
        f"1,{MID},ord-1,false,true,tx-1,1999,USD\r\n"
        f"3,{MID},ord-2,false,true,tx-2,500,USD\r\n"
    )
    (inbound / "transmit_x_20261124_0001.csv").write_text(csv_text, newline="")
    (inbound / "transmit_x_20261124_0002.json.part").write_text("{")
    (inbound / "notes.txt").write_text("ignored")
    ctl = control_for(sftp_env.root)
    ctl.open_writes[str(inbound / "transmit_x_20261124_0001.csv")] += 1  # as if an SFTP handle were open
    assert sftp_env.ready_all() == []
    ctl.open_writes.clear()
    assert sftp_env.processor.process_pending() == []  # size not yet seen twice
    assert sftp_env.processor.process_pending() == ["ack_transmit_x_20261124_0001.json"]
    ack = read_lines_doc(sftp_env.home / "outbound" / "ack_transmit_x_20261124_0001.json")
    assert [r["status"] for r in ack["rows"]] == ["SUCCESS", "REJECTED"]
    assert ack["rows"][1]["errors"][0]["field"] == "SequenceNumber"
    body = sftp_env.state.calls[0][2]
    assert body["transaction"] == {"id": "tx-1", "amount": 1999, "currency": "USD"}
    assert body["isDeclined"] is False
    assert sorted(p.name for p in inbound.iterdir()) == ["notes.txt", "transmit_x_20261124_0002.json.part"]


def test_results_buffered_persisted_and_split(sftp_env: Env) -> None:
    p = sftp_env.processor
    sftp_env.state.emit(FakeEvent("order.completed", "osk-1", "sub-1"))
    sftp_env.state.emit(FakeEvent("order.expired", "osk-2", "sub-2", status="EXPIRED", confirmation_id=None))
    sftp_env.state.emit(FakeEvent("order.refunded", "osk-1", "sub-1", status="REFUNDED"))
    sftp_env.state.emit(FakeEvent("order.completed", "osk-1", "sub-1"))  # a duplicate notification
    assert p.pending_results() == 2
    # a restart keeps the buffer: a new processor on the same root flushes it
    p2 = BatchProcessor(sftp_env.state, sftp_env.root, accounts={"merchant": MID})
    names = p2.flush_results()
    p2.close()
    assert names == [f"result_{MID}_20261124080000_0001.json"]
    doc = read_lines_doc(sftp_env.home / "outbound" / names[0])
    assert (doc["fileType"], doc["mid"], doc["fileNumber"], doc["rowCount"]) == ("result", MID, 1, 2)
    assert doc["rows"][0] == {
        "orderId": "sub-1", "orderSessionKey": "osk-1", "status": "APPROVED", "confirmationId": "22ACD1D9",
        "amount": 1999, "currency": "USD", "timestampUtc": "2026-12-01T10:00:00Z",
    }  # fmt: skip
    assert (doc["rows"][1]["status"], doc["rows"][1]["confirmationId"]) == ("EXPIRED", None)
    assert p.pending_results() == 0
    for i in range(2001):
        sftp_env.state.emit(FakeEvent("order.completed", f"osk-{i}-x", f"o-{i}"))
    names = p.flush_results()
    assert [json.loads((sftp_env.home / "outbound" / n).read_text())["rowCount"] for n in names] == [2000, 1]
    assert not list((sftp_env.home / "outbound").glob("*.part"))


def test_faults_cut_session_and_slow_results(sftp_env: Env) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from flex_provider.sandbox.batch_admin import admin_router

    app = FastAPI()
    app.include_router(admin_router(sftp_env.processor), prefix="/_sandbox/sftp")
    client = TestClient(app)
    r = client.post("/_sandbox/sftp/faults", json={"cut_session_after_bytes": 1000, "slow_results": 0.2})
    assert r.status_code == 200
    assert r.json()["cut_session_after_bytes"] == 1000

    async def upload(size: int) -> None:
        async with (
            sftp_env.client() as conn,
            conn.start_sftp_client() as sftp,
            sftp.open("inbound/big.part", "wb") as f,
        ):
            await f.write(b"x" * size)

    with pytest.raises((asyncssh.Error, ConnectionError, OSError)):
        asyncio.run(upload(50_000))
    assert (sftp_env.home / "inbound" / "big.part").stat().st_size <= 1000
    asyncio.run(upload(50_000))  # one-shot: the next session goes through
    assert (sftp_env.home / "inbound" / "big.part").stat().st_size == 50_000
    assert client.get("/_sandbox/sftp/status").json()["sessions_cut"] == 1

    sftp_env.state.emit(FakeEvent("order.completed", "osk-1", "sub-1"))
    outbound = sftp_env.home / "outbound"

    async def slow_flush() -> tuple[int, list[str]]:
        task = asyncio.ensure_future(sftp_env.processor.flush_results_async())
        await asyncio.sleep(0.1)
        partial = next(outbound.glob("result_*.json")).stat().st_size
        return partial, await task

    partial, names = asyncio.run(slow_flush())
    assert 0 < partial < (outbound / names[0]).stat().st_size
    json.loads((outbound / names[0]).read_text())
    old_key = sftp_env.host_key
    new_key = client.post("/_sandbox/sftp/host-key/rotate").json()["sftp_host_key"]
    assert new_key != old_key
    assert client.post("/_sandbox/sftp/faults/reset").json()["slow_results"] == 0.0


def test_end_to_end_against_sandbox(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Upload through the real sandbox subprocess; ack, then results after a clock advance."""
    _end_to_end(sandbox, tmp_path, monkeypatch)


def _wait_for(fn: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (got := fn()) is not None:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out")


def _end_to_end(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    info = sandbox.info
    mid, root = info["mid"], Path(info["sftp_root"])
    r = sandbox.api(
        "POST",
        "/tokenize",
        json={
            "payment_method": {
                "credit_card": {
                    "first_name": "Ann",
                    "last_name": "Lee",
                    "number": "4000002760003184",
                    "month": "09",
                    "year": "2030",
                }
            }
        },
    )
    card = r.json()["transaction"]["payment_method"]["token"]
    expiry = (sandbox.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = uuid.uuid4().hex[:8]
    good = row(1, f"e2e-{run}-1", mid=mid, paymentMethod={"cardNumber": card, "token": True})
    bad = row(2, f"e2e-{run}-2", mid=mid, paymentMethod={"cardNumber": card, "token": True})
    del bad["transaction"]["amount"]
    content = evaluate_file([good, bad], token=sandbox.token(), mid=mid).replace(
        b"2026-12-15T00:00:00Z", expiry.encode()
    )
    name = f"evaluate_{mid}_{run}_0001.json"
    local = tmp_path / name
    local.write_bytes(content)
    monkeypatch.setenv("AIRFLOW_CONN_FLEX_SFTP_E2E", info["airflow_connections"]["flex_sftp_default"])
    hook = SFTPHook(ssh_conn_id="flex_sftp_e2e", conn_retry_attempts=1)
    hook.store_file(f"inbound/{name}.part", str(local))
    with hook.get_managed_conn() as sftp:
        sftp.posix_rename(f"inbound/{name}.part", f"inbound/{name}")
    ack_path = root / "outbound" / f"ack_{name[:-5]}.json"
    ack = _wait_for(lambda: read_lines_doc(ack_path) if ack_path.exists() else None)
    assert (ack["status"], ack["accepted"], ack["rejected"]) == ("PROCESSED", 1, 1)
    assert ack["rows"][0]["status"] == "SUBMITTED"
    osk = ack["rows"][0]["orderSessionKey"]
    assert osk
    assert ack["rows"][1]["status"] == "REJECTED"
    assert any(e["field"] and "amount" in e["field"].lower() for e in ack["rows"][1]["errors"])
    # The sandbox writes the ack first, then archives the inbound file: wait for the move (bounded).
    assert _wait_for(lambda: True if (root / "archive" / name).exists() else None)
    assert not (root / "inbound" / name).exists()
    assert hook.list_directory("outbound")  # visible over SFTP too
    hook.close_conn()

    sandbox.advance(3 * 86400 + 60)

    def result_row() -> dict[str, Any] | None:
        for p in sorted((root / "outbound").glob(f"result_{mid}_*.json")):
            for r in json.loads(p.read_text())["rows"]:
                if r["orderSessionKey"] == osk:
                    return r
        return None

    got = _wait_for(result_row)
    assert (got["orderId"], got["status"], got["amount"]) == (good["orderId"], "APPROVED", 1999)
    assert got["confirmationId"]
