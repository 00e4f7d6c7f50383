"""``flex_provider.utc``: every "to aware UTC" in the provider reads a naive value as UTC, never local time."""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from flex_provider.utc import parse_utc, to_utc, utc_now, utc_text

PLUS_5 = timezone(timedelta(hours=5))


@pytest.fixture
def local_zone_not_utc():
    """Run with the process in UTC-10, so a helper that reads naive values as local time is caught."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Honolulu"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_to_utc_reads_naive_as_utc_and_converts_aware(local_zone_not_utc) -> None:
    assert to_utc(datetime(2026, 11, 24, 9, 30)) == datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
    converted = to_utc(datetime(2026, 11, 24, 9, 30, tzinfo=PLUS_5))
    assert (converted, converted.tzinfo) == (datetime(2026, 11, 24, 4, 30, tzinfo=timezone.utc), timezone.utc)
    assert to_utc(None) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-24T09:30:00Z", datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)),
        (" 2026-11-24T09:30:00+05:00 ", datetime(2026, 11, 24, 4, 30, tzinfo=timezone.utc)),
        ("2026-11-24 09:30:00", datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)),  # SQLite text
        (datetime(2026, 11, 24, 9, 30), datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)),
        ("not a date", None),
        (None, None),
        (date(2026, 11, 24), None),
        (1764000000, None),
    ],
)
def test_parse_utc(raw, expected, local_zone_not_utc) -> None:
    assert parse_utc(raw) == expected
    if expected is not None:
        assert parse_utc(raw).utcoffset() == timedelta(0)


def test_utc_text_is_z_text_of_the_utc_instant(local_zone_not_utc) -> None:
    assert utc_text(datetime(2026, 11, 24, 9, 30, 5)) == "2026-11-24T09:30:05Z"
    assert utc_text(datetime(2026, 11, 24, 2, 0, tzinfo=PLUS_5)) == "2026-11-23T21:00:00Z"
    before = datetime.now(timezone.utc).replace(microsecond=0)
    stamp = datetime.strptime(utc_text(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert before <= stamp <= datetime.now(timezone.utc)


def test_utc_now_is_aware_utc() -> None:
    now = utc_now()
    assert now.tzinfo is timezone.utc
    assert abs((now - datetime.now(timezone.utc)).total_seconds()) < 5
