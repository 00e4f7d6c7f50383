"""
Pydantic models of Flex's REST payloads, one module a payload family.

camelCase on the wire, snake_case in Python. Requests forbid unknown fields (a typo is an error here,
not a silently dropped field at Flex); responses ignore unknown fields, as Flex asks clients to.
Amounts are integer cents everywhere except ``RefundRequest.amount_to_refund`` (dollars, per Flex).
``base`` (bases, envelope, problem details), ``transactions`` (/evaluate, /transmit), ``tokenize``
(/oauth2/token, /tokenize), ``orders`` (orders, refund, cancel, capture); every name stays importable
from ``flex_provider.models.api``.
"""

from __future__ import annotations

from flex_provider.models.api.base import FlexEnvelope, FlexRequestModel, FlexResponseModel, ProblemDetails
from flex_provider.models.api.orders import (
    FINAL_ORDER_STATUSES,
    CancelRequest,
    CaptureRequest,
    CaptureResponse,
    Order,
    OrderPage,
    OrderStatus,
    RefundRequest,
    RefundResponse,
)
from flex_provider.models.api.tokenize import (
    CreditCard,
    TokenizedCard,
    TokenizePaymentMethod,
    TokenizeRequest,
    TokenizeResponse,
    TokenizeTransaction,
    TokenResponse,
)
from flex_provider.models.api.transactions import (
    AdditionalField,
    Address,
    EvaluateRequest,
    EvaluateResponse,
    EvaluateStatus,
    OrderItem,
    Payer,
    PaymentMethod,
    Subscription,
    Transaction,
    TransmitRequest,
    TransmitResponse,
)

__all__ = [
    "FINAL_ORDER_STATUSES", "AdditionalField", "Address", "CancelRequest", "CaptureRequest", "CaptureResponse",
    "CreditCard", "EvaluateRequest", "EvaluateResponse", "EvaluateStatus", "FlexEnvelope", "FlexRequestModel",
    "FlexResponseModel", "Order", "OrderItem", "OrderPage", "OrderStatus", "Payer", "PaymentMethod",
    "ProblemDetails", "RefundRequest", "RefundResponse", "Subscription", "TokenResponse", "TokenizePaymentMethod",
    "TokenizeRequest", "TokenizeResponse", "TokenizeTransaction", "TokenizedCard", "Transaction",
    "TransmitRequest", "TransmitResponse",
]
