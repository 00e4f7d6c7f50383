"""
Operators for the SFTP batch channel: extract -> write -> ship -> record -> process outbound -> reconcile
-> project.

One module per step (``extract``, ``ship``, ``mark``, ``outbound``, ``reconcile``, ``project``); this module gathers
them under their historical import path. SQL lives in templated ``.sql`` files a merchant adapts
(``dags/sql/``).
"""

from __future__ import annotations

from flex_provider.operators.common import (
    FLEX_CONN_ID,
    LEDGER_CONN_ID,
    MERCHANT_CONN_ID,
    SFTP_CONN_ID,
    _read_sql,
)
from flex_provider.operators.extract import ExtractDeclinesOperator, WriteBatchOperator
from flex_provider.operators.mark import RecordShipmentOperator
from flex_provider.operators.outbound import ProcessOutboundOperator
from flex_provider.operators.project import FlexProjectOrdersOperator
from flex_provider.operators.reconcile import ReconcileOrdersOperator, recovery_totals
from flex_provider.operators.ship import ShipBatchOperator

__all__ = [
    "FLEX_CONN_ID",
    "LEDGER_CONN_ID",
    "MERCHANT_CONN_ID",
    "SFTP_CONN_ID",
    "ExtractDeclinesOperator",
    "FlexProjectOrdersOperator",
    "ProcessOutboundOperator",
    "ReconcileOrdersOperator",
    "RecordShipmentOperator",
    "ShipBatchOperator",
    "WriteBatchOperator",
    "_read_sql",
    "recovery_totals",
]
