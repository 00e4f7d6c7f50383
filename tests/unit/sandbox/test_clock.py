"""``flex_provider.sandbox.clock``: sandbox time only moves forward, at its speed, and survives a restart."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from flex_provider.sandbox.clock import SandboxClock

DAY = 86400.0


def test_a_frozen_clock_moves_only_by_advance() -> None:
    clock = SandboxClock(speed=0)
    start = clock.timestamp()
    time.sleep(0.02)
    assert clock.timestamp() == start
    assert clock.advance(3 * DAY).timestamp() == pytest.approx(start + 3 * DAY)
    assert clock.now().tzinfo is not None
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="speed"):
        clock.set_speed(-2)


def test_speed_multiplies_real_time() -> None:
    clock = SandboxClock(speed=1000)
    real0, sim0 = time.time(), clock.timestamp()
    time.sleep(0.05)
    real1, sim1 = time.time(), clock.timestamp()
    # 1000 sandbox seconds per real second, within the few milliseconds between the two reads
    assert (sim1 - sim0) == pytest.approx((real1 - real0) * 1000, abs=5.0)


def test_a_restart_continues_from_the_persisted_anchor(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    conn = sqlite3.connect(db)
    first = SandboxClock(conn, speed=0)
    first.advance(10 * DAY)
    at = first.timestamp()
    conn.close()
    conn = sqlite3.connect(db)
    again = SandboxClock(conn)  # no speed given: the stored speed (frozen) and offset are kept
    assert again.speed == 0
    assert again.timestamp() == pytest.approx(at)
    assert again.offset_seconds == pytest.approx(10 * DAY, abs=60)
    conn.close()
