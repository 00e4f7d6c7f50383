"""Deterministic idempotency keys, so an Airflow retry, a clear or a backfill sends the same key."""

from __future__ import annotations

import uuid

# Fixed namespace for this provider's keys: uuid5(NAMESPACE_URL, "https://flexfactor.io/airflow-provider").
FLEX_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://flexfactor.io/airflow-provider")


def idempotency_key(mid: str, order_id: str, operation: str, *qualifiers: object) -> str:
    """
    Return the idempotency key of one business operation.

    :param mid: merchant id.
    :param order_id: the merchant's order id (or Flex's order id for order operations).
    :param operation: ``evaluate``, ``transmit``, ``refund``, ``cancel``, ``capture``...
    :param qualifiers: what else makes the operation unique (e.g. a refund reference).
    """
    name = ":".join([mid, order_id, operation, *(str(q) for q in qualifiers)])
    return str(uuid.uuid5(FLEX_NAMESPACE, name))
