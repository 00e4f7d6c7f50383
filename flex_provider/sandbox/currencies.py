"""Minor units of money on the sandbox side, by the currency's ISO 4217 exponent.

Flex takes order amounts in minor units (cents) and refunds in major units (dollars, flex-api.md 5.1).
The sandbox converts with its own table, never with the provider's ``flex_provider.money``: it stands
for Flex, so a wrong exponent on the provider's side must meet a right one here. ISO 4217 gives most
currencies two decimals; the table lists the ones that differ.
"""

from __future__ import annotations

from decimal import Decimal

#: ISO 4217 currencies whose minor unit is not 1/100 (all others have exponent 2).
EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV",
         "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
DEFAULT_EXPONENT = 2


def exponent(currency: str) -> int:
    """Decimal places of ``currency`` (ISO 4217 code, any case)."""
    return EXPONENTS.get(currency.strip().upper(), DEFAULT_EXPONENT)


def to_minor(amount: Decimal, currency: str) -> int | None:
    """``amount`` in major units as integer minor units; None when it has more decimals than the currency."""
    minor = amount.scaleb(exponent(currency))
    if minor != minor.to_integral_value():
        return None
    return int(minor)


def to_major(minor: int, currency: str) -> Decimal:
    """Integer minor units as an exact major-unit amount with the currency's decimals (``100`` JPY -> 100)."""
    places = exponent(currency)
    return Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))
