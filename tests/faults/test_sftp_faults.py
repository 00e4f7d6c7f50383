"""Faults 1 and 7: an SFTP session cut mid-upload (sandbox knob, and a killed OpenSSH sshd child); host keys."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from flex_provider.exceptions import FlexHostKeyMismatchError
from tests.faults.invariants import check_invariants

ROOT = Path(__file__).resolve().parents[2]


def _final_names_hold_only_whole_files(folder: Path, expected: dict[str, int]) -> None:
    for path in folder.iterdir():
        if path.name in expected:
            assert path.stat().st_size == expected[path.name], f"{path.name} holds a partial file"


def test_sandbox_cuts_the_session_mid_upload_then_rerun_completes(make_world) -> None:
    world = make_world()
    day = world.business_day()
    world.add_declines(day, 60, bad=["duplicate_order"])
    summary = world.extract(day)
    world.sandbox.admin("POST", "/sftp/faults", {"cut_session_after_bytes": 6000, "paused": True})
    with pytest.raises(Exception):  # noqa: B017, PT011
        world.ship(summary)
    inbound = world.sftp_root / "inbound"
    assert not any((inbound / n).exists() for n in summary["files"]), "final name holds a partial upload"
    assert world.sandbox.admin("GET", "/sftp/status").json()["sessions_cut"] >= 1
    world.mark(summary)  # the DAG's next task may run: it marks nothing that was not uploaded
    assert all(r["status"] == "DECLINED" for r in world.merchant_rows())
    world.sandbox.admin("POST", "/sftp/faults", {"paused": False})
    result = world.ship(summary)  # Airflow's retry
    assert result["uploaded"] == summary["files"]
    world.mark(summary)
    world.process_acks(day)
    check_invariants(world)
    world.finish()
    counts = check_invariants(world, final=True)
    assert counts["resent_rows"] == 0 and counts["shipped"] == 61  # noqa: PT018


def _sshd_children(master_pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master_pid:
                out.append(int(entry.name))
    return out


def test_openssh_child_killed_mid_upload_final_name_never_partial(sshd, tmp_path: Path, monkeypatch) -> None:
    """SIGKILL the sshd process serving our session while a large file uploads: no partial final file."""
    from flex_provider.hooks.sftp import FlexSftpHook

    monkeypatch.setenv("AIRFLOW_CONN_FAULT_SSHD", sshd.conn_json())
    big = tmp_path / "evaluate_m_20261124_0001.json"
    big.write_bytes(b'{"rows":[\n' + b"x" * (40 * 1024 * 1024) + b"\n]}\n")
    master = int((Path(sshd.log_path).parent / "sshd.pid").read_text())
    before = set(_sshd_children(master))
    killed: list[int] = []

    def killer() -> None:
        part = sshd.root / "inbound" / (big.name + ".part")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if part.exists() and part.stat().st_size > 1024 * 1024:
                for pid in set(_sshd_children(master)) - before:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                return
            time.sleep(0.005)

    t = threading.Thread(target=killer)
    t.start()
    hook = FlexSftpHook(ssh_conn_id="fault_sshd")
    with pytest.raises(Exception):  # noqa: B017, PT011
        hook.upload_files([big])
    t.join()
    assert killed, "the upload finished before the kill"
    assert not (sshd.root / "inbound" / big.name).exists()
    result = FlexSftpHook(ssh_conn_id="fault_sshd").upload_files([big])  # the rerun
    assert result[0].status == "uploaded"
    assert (sshd.root / "inbound" / big.name).stat().st_size == big.stat().st_size
    again = FlexSftpHook(ssh_conn_id="fault_sshd").upload_files([big])
    assert again[0].status == "skipped"  # nothing doubled
    for p in (sshd.root / "inbound").glob(big.name + "*"):
        p.unlink()


def test_host_key_mismatch_and_unknown_host_are_refused(sandbox_factory, monkeypatch, tmp_path: Path) -> None:
    """A changed or unknown host key refuses the connection before a byte is sent: an upload is tried for
    real (the ship step's own call), and nothing, not even a ``.part``, lands in the inbound folder."""
    from flex_provider.hooks.sftp import FlexSftpHook

    sb = sandbox_factory("--seed", "12")
    inbound = Path(sb.info["sftp_root"]) / "inbound"
    conn = json.loads(sb.info["airflow_connections"]["flex_sftp_default"])
    monkeypatch.setenv("AIRFLOW_CONN_FAULT_SFTP", json.dumps(conn))
    sb.admin("POST", "/sftp/faults", {"paused": True})  # keep what lands in inbound/ where the test sees it
    probe = tmp_path / f"evaluate_{sb.info['mid']}_20261124_0001.json"
    probe.write_bytes(b'{"authorizationToken":"","rows":[\n]}\n')
    pinned = FlexSftpHook(ssh_conn_id="fault_sftp", conn_retry_attempts=1)
    assert [r.status for r in pinned.upload_files([probe])] == ["uploaded"]  # the pinned key: the upload works
    assert sorted(p.name for p in inbound.iterdir()) == [probe.name]
    (inbound / probe.name).unlink()

    sb.admin("POST", "/sftp/host-key/rotate")
    with pytest.raises(FlexHostKeyMismatchError, match="does not match"):
        FlexSftpHook(ssh_conn_id="fault_sftp", conn_retry_attempts=1).upload_files([probe])
    assert list(inbound.iterdir()) == [], "uploaded to a host whose key changed"
    with pytest.raises(FlexHostKeyMismatchError, match="does not match"):
        FlexSftpHook(ssh_conn_id="fault_sftp", conn_retry_attempts=1).list_outbound(["*"])

    unknown = {**conn, "extra": {k: v for k, v in conn["extra"].items() if k != "host_key"}}
    monkeypatch.setenv("AIRFLOW_CONN_FAULT_SFTP_UNKNOWN", json.dumps(unknown))
    monkeypatch.setenv("HOME", str(Path(sb.data_dir) / "home"))  # no known_hosts to fall back on
    with pytest.raises(FlexHostKeyMismatchError, match="unknown"):
        FlexSftpHook(ssh_conn_id="fault_sftp_unknown", conn_retry_attempts=1).upload_files([probe])
    assert list(inbound.iterdir()) == [], "uploaded to an unknown host"
    sb.admin("POST", "/sftp/faults", {"paused": False})


_DISABLERS = (
    "no_host_key_check",
    "StrictHostKeyChecking=no",
    "StrictHostKeyChecking no",
    "AutoAddPolicy",
    "known_hosts=None",
    "UserKnownHostsFile=/dev/null",
    "allow_host_key_change",
)


def test_no_sample_doc_or_test_default_disables_host_key_checking() -> None:
    hits = []
    for folder in ("flex_provider", "dags", "docs", "tests", "README.md", "docker-compose.yaml", "scripts"):
        base = ROOT / folder
        files = [base] if base.is_file() else list(base.rglob("*")) if base.exists() else []
        for path in files:
            if not path.is_file() or path.suffix not in (
                ".py",
                ".md",
                ".yaml",
                ".yml",
                ".json",
                ".cfg",
                ".sh",
                ".toml",
            ):
                continue
            if path.resolve() == Path(__file__).resolve():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for needle in _DISABLERS:
                for line in text.splitlines():
                    if needle in line and "false" not in line.lower().split(needle.lower())[-1][:12]:
                        hits.append(f"{path.relative_to(ROOT)}: {line.strip()[:120]}")
    assert not hits, "host-key checking disabled in:\n" + "\n".join(hits)
