"""
Reject reasons a merchant understands: one list, one reason for one business problem, never the value.

``<column>`` is the source column as the extract names it. The full list (docs/batch-files.md):

- ``pan_detected:<column>``: a value looks like a card number (13-19 digits passing Luhn; GUIDs aside);
- ``mid_mismatch``: the row's ``mid`` is not the batch's;
- ``missing:<column>``: a required field is not given (``order_id``, ``transaction_id``, ``amount_cents``,
  ``currency``);
- ``invalid_amount``: an amount is not a whole number of minor units, or ``amount_cents`` is not above zero,
  or ``subscription_price_cents`` is below zero;
- ``invalid_currency``: a currency is not an active ISO 4217 code (``usd``, ``US``, ``ABC``);
- ``too_long:<column>`` / ``too_short:<column>``: longer or shorter than the field allows;
- ``invalid:<column>``: a value of the wrong type, format or range (``exp_month`` 13, ``card_last4`` 5 digits);
- ``missing_card_token``: a decline (evaluate) without ``card_token``: Flex cannot retry it;
- ``expiry_in_past``: the row's rescue window (its ``expiry_date_utc``, else the file default) has closed;
- ``already_shipped``: another run or day shipped the order (ledger);
- ``duplicate_order``: the order id was already written in this run.

A row gets the reason of its first problem: ``pan_detected``, then ``mid_mismatch``, then the fields in
the order the request model lists them (each field: type, missing, length, range, pattern, business
rule), then ``already_shipped``, then ``duplicate_order``.
"""

from __future__ import annotations

from typing import Any

from flex_provider.batch.columns import AMOUNT_COLUMNS, CURRENCY_COLUMNS, Layout, canonical

REASONS = (
    "pan_detected:<column>",
    "mid_mismatch",
    "missing:<column>",
    "invalid_amount",
    "invalid_currency",
    "too_long:<column>",
    "too_short:<column>",
    "invalid:<column>",
    "missing_card_token",
    "expiry_in_past",
    "already_shipped",
    "duplicate_order",
)

#: problem found on a field -> reason (``{}`` is the column).
_BY_PROBLEM = {
    "type": "invalid:{}",
    "missing": "missing:{}",
    "too_short": "too_short:{}",
    "too_long": "too_long:{}",
    "range": "invalid:{}",
    "pattern": "invalid:{}",
}


def field_reason(column: str, problem: str) -> str:
    """The reason for ``problem`` on ``column`` (money and currency fields have one reason each)."""
    base = canonical(column)
    if problem == "missing":
        return f"missing:{column}"
    if base in AMOUNT_COLUMNS:
        return "invalid_amount"
    if base in CURRENCY_COLUMNS:
        return "invalid_currency"
    return _BY_PROBLEM[problem].format(column)


#: pydantic error type -> problem
_PYDANTIC_PROBLEM = {
    "missing": "missing",
    "string_too_short": "too_short",
    "string_too_long": "too_long",
    "greater_than_equal": "range",
    "greater_than": "range",
    "less_than_equal": "range",
    "less_than": "range",
    "string_pattern_mismatch": "pattern",
}


def model_error_reason(lay: Layout, error: dict[str, Any]) -> tuple[int, str]:
    """
    (position of the field in the model, reason) of one pydantic error of a request body.

    The per-row model path and the column path give the same reason for the same row: a field that is
    missing as a whole object (``transaction``) names its first required column.
    """
    loc = tuple(str(p) for p in error["loc"])
    for pos, f in enumerate(lay.fields):
        if f.path == loc or (f.required and f.path[: len(loc)] == loc):
            if error["type"] == "value_error" and "pan_detected" in str(error.get("msg", "")):
                return pos, f"pan_detected:{f.column}"
            return pos, field_reason(f.column, _PYDANTIC_PROBLEM.get(error["type"], "type"))
    return len(lay.fields), f"invalid:{'.'.join(loc)}"
