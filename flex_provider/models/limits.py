"""
The widths the ledger stores an order's identifiers in, as the models' length limits.

A value the ledger cannot hold must be refused where it enters (a source row: ``too_long:order_id``; an
ack or result file: quarantined with the field named), not by the database in the middle of a file.
``flex_provider.ledger.schema`` declares its columns with the same numbers.
"""

from __future__ import annotations

#: The merchant's order id (Flex's ``orderId`` / ``ExternalOrderId``).
ORDER_ID_MAX = 255
#: Flex's own identifiers kept per order: the ``orderSessionKey`` and the ``confirmationId``.
FLEX_ID_MAX = 64
#: An ISO 4217 alphabetic code.
CURRENCY_LENGTH = 3
