"""Fixtures of the fault suite: one sandbox for the suite, a fresh merchant world per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import World
from tests.fixtures.sandbox import SandboxProcess


@pytest.fixture(scope="session")
def fault_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A sandbox only the fault tests use (they move its clock by weeks and turn fault knobs)."""
    proc = SandboxProcess(tmp_path_factory.mktemp("fault-sandbox"), ["--seed", "11"]).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def clean_faults(fault_sandbox: SandboxProcess) -> Iterator[SandboxProcess]:
    """Every fault knob off before and after the test."""
    for path in ("/faults/reset", "/sftp/faults/reset", "/webhooks/faults/reset"):
        fault_sandbox.admin("POST", path)
    fault_sandbox.admin("POST", "/sftp/faults", {"paused": False})
    yield fault_sandbox
    for path in ("/faults/reset", "/sftp/faults/reset", "/webhooks/faults/reset"):
        fault_sandbox.admin("POST", path)
    fault_sandbox.admin("POST", "/sftp/faults", {"paused": False})


@pytest.fixture
def make_world(
    clean_faults: SandboxProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., World]:
    """``make_world(**kwargs)``: a fresh merchant world on the fault sandbox (SQLite unless told)."""
    made: list[World] = []

    def make(sandbox: Any = None, **kwargs: Any) -> World:
        # One merchant ships one set of files per day: move the shared sandbox a day on, so this world's
        # business day (and so its file names) differs from every earlier world's.
        (sandbox or clean_faults).advance(86400)
        w = World(tmp_path / f"world{len(made)}", sandbox or clean_faults, monkeypatch, **kwargs)
        made.append(w)
        return w

    yield make  # type: ignore[misc]
    for w in made:
        w.merchant.dispose()
