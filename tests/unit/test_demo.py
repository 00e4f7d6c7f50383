"""``flex_provider.demo``: the summary the demo prints, read from a real SQLite merchant DB."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flex_provider.demo import merchant_counts


def test_recovered_amounts_stay_per_currency_in_their_own_minor_units(tmp_path: Path) -> None:
    db = tmp_path / "merchant.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (order_id TEXT, status TEXT, flex_reject_reason TEXT, flex_sent_at TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", [
            ("a", "PAID", None, "2026-11-24"), ("b", "FAILED", None, "2026-11-24"),
            ("c", "DECLINED", "invalid_currency", None),
        ])  # fmt: skip
        conn.execute("CREATE TABLE flex_recovery_summary (business_date TEXT, currency TEXT, declines_sent INTEGER, "
                     "rescued_count INTEGER, rescued_amount_cents INTEGER, expired_count INTEGER, pending INTEGER)")
        conn.executemany("INSERT INTO flex_recovery_summary VALUES (?, ?, ?, ?, ?, ?, ?)", [
            ("2026-11-24", "USD", 3, 1, 1999, 1, 1), ("2026-11-25", "USD", 1, 1, 1, 0, 0),
            ("2026-11-25", "JPY", 1, 1, 1500, 0, 0), ("2026-11-25", "KWD", 1, 0, 0, 1, 0),
        ])  # fmt: skip
    counts = merchant_counts(db)
    assert counts["recovered_minor"] == {"JPY": 1500, "USD": 2000}
    assert (counts["shipped"], counts["approved"], counts["expired"], counts["pending"]) == (6, 3, 2, 1)
    assert counts["recovery_rate"] == round(3 / 5, 4)
    assert counts["rejected_by_reason"] == {"invalid_currency": 1}
