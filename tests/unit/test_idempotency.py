"""
Idempotency keys written out as literals: a changed namespace or name layout re-keys every order after an
upgrade (Flex would take each rerun for a new request), so it must fail here, not in production.

The literals were computed once with the standard library alone, outside the provider:
``python3 -c "import uuid; ns = uuid.uuid5(uuid.NAMESPACE_URL, 'https://flexfactor.io/airflow-provider');
print(ns, uuid.uuid5(ns, 'mid-1:ord-1:evaluate'))"``.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from flex_provider.idempotency import FLEX_NAMESPACE, idempotency_key

#: uuid5(NAMESPACE_URL, "https://flexfactor.io/airflow-provider").
PINNED_NAMESPACE = uuid.UUID("81621734-1fa4-5534-9c21-28904c58efee")


def pinned_key(mid: str, order_id: str, operation: str) -> str:
    """The key a test expects, from the pinned namespace (never from the provider's module)."""
    return str(uuid.uuid5(PINNED_NAMESPACE, f"{mid}:{order_id}:{operation}"))


def test_namespace_is_pinned() -> None:
    assert str(FLEX_NAMESPACE) == "81621734-1fa4-5534-9c21-28904c58efee"


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (("mid-1", "ord-1", "evaluate"), "bdb96a25-6692-514e-ad98-0f4a4cc0f8d4"),
        (("6a1c0b0e-3f7e-4c55-9a57-1f2b3c4d5e6f", "sub-0001", "evaluate"), "dd16eb69-99d5-50ab-828d-ccbb4acc4452"),
        (("mid-1", "9f1c", "refund", "ref-7", Decimal("1.50")), "9177f094-105c-54c8-a226-50d51f7e4ef8"),
        (("mid-1", "9f1c", "cancel"), "dd432141-1fcd-54a6-8b92-51762c829834"),
        # Refunds and cancels of flex_order_action: (Flex order id, operation, request id), never amounts.
        (("mid-1", "9f1c", "refund", "req-7"), "eba78461-cffa-57d9-bca4-119a9a9ead36"),
        (("mid-1", "9f1c", "cancel", "req-7"), "ad8060b8-a6e5-5aaa-8e91-6042edcbe9fc"),
    ],
)
def test_idempotency_key_literals(args: tuple, key: str) -> None:
    assert idempotency_key(*args) == key


def test_batch_writer_keys_are_the_pinned_literals(tmp_path: Path) -> None:
    """The batch writer derives keys on its own fast path; they must equal the same literals."""
    from flex_provider.batch.writer import BatchWriter
    from tests.batch.conftest import MID, source_row

    assert MID == "6c5b7d1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
    writer = BatchWriter(mid=MID, business_date=date(2026, 11, 24), out_dir=tmp_path, kind="evaluate",
                         now=lambda: datetime(2026, 11, 25, 6, tzinfo=timezone.utc),
                         default_expiry=timedelta(days=21))
    summary = writer.write([[source_row(0), source_row(1)]])
    rows = json.loads((tmp_path / summary["files"][0]).read_bytes())["rows"]
    assert [(r["orderId"], r["idempotencyKey"]) for r in rows] == [
        ("sub-0-2026-11", "e719457f-90ea-5ad2-93cb-268340fd6f0c"),
        ("sub-1-2026-11", "9d6fb92e-e45a-5107-93a5-233e112f71fc"),
    ]
