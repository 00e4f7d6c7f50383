"""
Money as integer minor units by the currency's ISO 4217 exponent (JPY 0, USD 2, KWD 3, CLF 4).

Every amount the provider stores or compares is an ``int`` of minor units; a decimal string is only
for people (UI Params) and for the one Flex endpoint that takes major units (refund's
``amountToRefund``). Conversions never go through ``float``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

#: Active ISO 4217 alphabetic codes (List One as of 2026: XCG and XAD in; ANG, HRK, SLL, ZWL and, with
#: Bulgaria's euro from 2026, BGN out), checked against pycountry 26.2.16's ISO 4217 data. XTS (testing)
#: and XXX (no currency) are codes but never a payment's currency, so they are left out.
ISO_4217_CURRENCIES: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
    KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN
    NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW
    UZS VED VES VND VUV WST XAD XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW
    ZWG
    """.split()  # noqa: SIM905 - a table reads better than a 170-item literal
)

#: Minor-unit exponents that are not 2 (ISO 4217 List One, "Minor unit" column). Funds, metals and
#: special drawing rights (XAU, XDR, ...) have no minor unit ("N.A."): they are treated as 0.
_EXPONENT_NOT_2: dict[str, int] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["XAD", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XUA"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}


class MoneyError(ValueError):
    """An amount that cannot be expressed in the currency's minor units (the message holds no value)."""


def is_currency(code: object) -> bool:
    """True for an active ISO 4217 alphabetic code (upper case, exactly as stored)."""
    return isinstance(code, str) and code in ISO_4217_CURRENCIES


def exponent(currency: str) -> int:
    """Minor-unit exponent of an ISO 4217 currency; :class:`MoneyError` for an unknown code."""
    if not is_currency(currency):
        raise MoneyError("invalid_currency")
    return _EXPONENT_NOT_2.get(currency, 2)


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """
    Major units (a decimal string such as ``"19.99"``, a ``Decimal`` or an ``int``) -> minor units.

    Refuses floats (they cannot hold ``0.1``), more decimals than the currency has (``"1.5"`` JPY,
    ``"1.005"`` USD) and anything that is not a finite number.
    """
    if isinstance(amount, (float, bool)):
        raise MoneyError("amount must be a decimal string, a Decimal or an int, never a float")
    try:
        value = Decimal(str(amount).strip()) if not isinstance(amount, Decimal) else amount
    except InvalidOperation:
        raise MoneyError("amount is not a number") from None
    if not value.is_finite():
        raise MoneyError("amount is not a finite number")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"amount has more decimals than {currency} has minor units")
    return int(scaled)


def to_major(minor: int, currency: str) -> Decimal:
    """Minor units -> an exact ``Decimal`` of major units with the currency's decimals (``1999`` USD -> ``19.99``)."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise MoneyError("minor units are an int")
    digits = exponent(currency)
    return Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def format_major(minor: int, currency: str) -> str:
    """Minor units as the decimal string people read (``"19.99"``, ``"100"`` for JPY, ``"1.500"`` for KWD)."""
    return str(to_major(minor, currency))
