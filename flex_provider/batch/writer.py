"""
Build evaluate/transmit batch files from flat source rows (docs/batch-files.md, "Source columns").

The writer streams: it holds one input chunk and the file being written, never the whole extract. Rows
are validated with the REST models (:class:`EvaluateRequest` / :class:`TransmitRequest`); a row that
fails, looks like it carries a card number, repeats an order id, or was shipped on another run goes to
the rejects CSV with a reason that never contains the offending value. Every file is written under a
temporary name and moved into place with ``os.replace``; the manifest is written last. The same input
gives byte-identical files on a rerun.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from flex_provider.idempotency import FLEX_NAMESPACE
from flex_provider.models.api import EvaluateRequest, TransmitRequest
from flex_provider.models.batch import (
    MAX_ROWS_PER_FILE,
    BatchHeader,
    Manifest,
    ManifestEntry,
    ManifestTotals,
)
from flex_provider.pci import looks_like_pan, mask_pans

log = logging.getLogger(__name__)

Kind = Literal["evaluate", "transmit"]
FileFormat = Literal["json", "csv"]
AlreadyShipped = Callable[[list[str]], "set[str]"]

# --- source columns -----------------------------------------------------------------------------
# flat column -> (path in the /evaluate or /transmit body, type). See docs/batch-files.md.

_ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "phone",
    "country",
    "country_code",
    "address_line1",
    "address_line2",
    "state",
    "city",
    "zip_code",
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


SOURCE_COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {
    "order_id": (("orderId",), "str"),
    "order_source": (("orderSource",), "str"),
    "is_mit": (("isMIT",), "bool"),
    "is_recurring": (("isRecurring",), "bool"),
    "site_id": (("siteId",), "str"),
    "site_url": (("siteUrl",), "str"),
    "customer_ip": (("customerIp",), "str"),
    "sense_key": (("senseKey",), "str"),
    "correlation_id": (("correlationId",), "str"),
    "transaction_id": (("transaction", "id"), "str"),
    "amount_cents": (("transaction", "amount"), "int"),
    "currency": (("transaction", "currency"), "str"),
    "transaction_at": (("transaction", "timestampUtc"), "datetime"),
    "timezone_utc_offset": (("transaction", "timezoneUtcOffset"), "float"),
    "response_code": (("transaction", "responseCode"), "str"),
    "response_description": (("transaction", "responseDescription"), "str"),
    "response_status": (("transaction", "responseStatus"), "str"),
    "response_sub_status": (("transaction", "responseSubStatus"), "str"),
    "response_code_source": (("transaction", "responseCodeSource"), "str"),
    "processor_name": (("transaction", "processorName"), "str"),
    "avs_result_code": (("transaction", "avsResultCode"), "str"),
    "cvv_result_code": (("transaction", "cvvResultCode"), "str"),
    "cavv_result_code": (("transaction", "cavvResultCode"), "str"),
    "transaction_type": (("transaction", "transactionType"), "str"),
    "dynamic_descriptor": (("transaction", "dynamicDescriptor"), "str"),
    "card_not_present": (("transaction", "cardNotPresent"), "bool"),
    "payer_id": (("payer", "id"), "str"),
    "payer_email": (("payer", "email"), "str"),
    "payer_phone": (("payer", "phone"), "str"),
    "payer_birthdate": (("payer", "birthdate"), "str"),
    **{f"billing_{f}": (("billingInformation", _camel(f)), "str") for f in _ADDRESS_FIELDS},
    **{f"shipping_{f}": (("shippingInformation", _camel(f)), "str") for f in _ADDRESS_FIELDS},
    "card_token": (("paymentMethod", "cardNumber"), "str"),
    "card_holder_name": (("paymentMethod", "holderName"), "str"),
    "card_type": (("paymentMethod", "cardType"), "str"),
    "card_brand": (("paymentMethod", "cardBrand"), "str"),
    "card_country": (("paymentMethod", "cardCountry"), "str"),
    "card_issuer": (("paymentMethod", "cardIssuer"), "str"),
    "card_level": (("paymentMethod", "cardLevel"), "str"),
    "card_fingerprint": (("paymentMethod", "cardFingerprint"), "str"),
    "card_bin": (("paymentMethod", "cardBinNumber"), "str"),
    "card_last4": (("paymentMethod", "cardLast4Digits"), "last4"),
    "exp_month": (("paymentMethod", "expirationMonth"), "int"),
    "exp_year": (("paymentMethod", "expirationYear"), "int"),
    "subscription_id": (("subscription", "subscriptionId"), "str"),
    "subscription_interval": (("subscription", "interval"), "str"),
    "subscription_price_cents": (("subscription", "price"), "int"),
    "subscription_currency": (("subscription", "currency"), "str"),
    "payment_number": (("subscription", "paymentNumber"), "str"),
    "total_payments": (("subscription", "totalPayments"), "str"),
    "expiry_date_utc": (("expiryDateUtc",), "datetime"),
}
# Accepted synonyms: a decline extract naturally calls the transaction time ``declined_at``.
COLUMN_ALIASES = {"declined_at": "transaction_at", "approved_at": "transaction_at"}
# Columns the writer reads but does not copy into the body as-is.
CONTROL_COLUMNS = frozenset({"mid", "idempotency_key", "sequence_number"})
_EVALUATE_ONLY = frozenset({"expiry_date_utc"})

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

_PATH_TO_COLUMN = {".".join(path): col for col, (path, _t) in SOURCE_COLUMNS.items()}

# Transmit CSV: the /transmit fields flattened with ".", in this fixed order.
CSV_COLUMNS: tuple[str, ...] = (
    "sequenceNumber",
    "mid",
    "orderId",
    "isDeclined",
    "isMIT",
    "isRecurring",
    "idempotencyKey",
    *(
        ".".join(path)
        for col, (path, _t) in SOURCE_COLUMNS.items()
        if col not in {"order_id", "is_mit", "is_recurring"} and col not in _EVALUATE_ONLY
    ),
    "paymentMethod.token",
)


class _CoercionError(ValueError):
    """A source value of the wrong type; the message never includes the value."""


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return not value.strip()
    return type(value).__name__ in {"NAType", "NaTType"}


def _plain(value: Any) -> Any:
    """numpy/pandas scalars -> Python scalars."""
    if isinstance(value, (str, bool, int, float, datetime, date)) and type(value).__module__ == "builtins":
        return value
    to_py = getattr(value, "to_pydatetime", None)
    if to_py is not None:
        return to_py()
    item = getattr(value, "item", None)
    if item is not None:
        try:
            return item()
        except (TypeError, ValueError):
            return value
    return value


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _coerce(value: Any, kind: str) -> Any:
    if kind == "str" and type(value) is str:
        return value.strip()
    value = _plain(value)
    if kind in {"str", "last4"}:
        if isinstance(value, bool):
            raise _CoercionError("expected text, got a boolean")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int):
            text = str(value)
            return text.zfill(4) if kind == "last4" else text
        if isinstance(value, (datetime, date)):
            return value.isoformat()
        return str(value).strip()
    if kind == "int":
        if isinstance(value, bool):
            raise _CoercionError("expected an integer, got a boolean")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        raise _CoercionError("expected an integer")
    if kind == "float":
        if isinstance(value, bool):
            raise _CoercionError("expected a number, got a boolean")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _CoercionError("expected a number") from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text in {"true", "t", "yes", "y", "1"}:
                return True
            if text in {"false", "f", "no", "n", "0"}:
                return False
        raise _CoercionError("expected a boolean")
    if kind == "datetime":
        if isinstance(value, datetime):
            return _as_utc(value)
        if isinstance(value, date):
            return datetime.combine(value, time(), tzinfo=timezone.utc)
        if isinstance(value, str):
            try:
                return _as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
            except ValueError:
                raise _CoercionError("expected an ISO 8601 date-time") from None
        raise _CoercionError("expected a date-time")
    raise AssertionError(kind)  # pragma: no cover


def _pan_in(value: Any) -> bool:
    """True when a raw source value looks like a card number (fast paths for the common types)."""
    kind = type(value)
    if kind is str:
        return len(value) >= 13 and looks_like_pan(value)
    if kind is int:
        return value >= 10**12 and looks_like_pan(value)
    if value is None or kind is bool:
        return False
    value = _plain(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e19:
        value = int(value)
    return looks_like_pan(value)


# Prefilter of the PAN check, one pass a row over its joined text values: with every space and dash
# removed, a card number is 13+ consecutive digits. ``looks_like_pan`` (regex + Luhn) runs only on a hit.
_DIGIT_MAP = bytes(48 if 48 <= i <= 57 else 120 for i in range(256))  # digit -> "0", other -> "x"
_THIRTEEN = b"0" * 13
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){12}")  # non-ASCII text (\d is any Unicode digit there)
_PAN_INT_FLOOR = 10**12
_NS_BYTES = FLEX_NAMESPACE.bytes


def _row_may_hold_pan(values: Iterable[Any]) -> bool:
    """False when no value of the row can hold a card number (exact: a True only means "look closer")."""
    texts = []
    for value in values:
        kind = type(value)
        if kind is str:
            if len(value) >= 13:
                texts.append(value)
        elif kind is int:
            if value >= _PAN_INT_FLOOR:
                return True
        elif value is None or kind is bool or kind is datetime:
            continue  # str(datetime) never holds 13 digits with single separators
        elif _pan_in(value):
            return True
    if not texts:
        return False
    joined = "\x00".join(texts)
    if joined.isascii():
        return _THIRTEEN in joined.encode("ascii").translate(_DIGIT_MAP, b" -")
    return _DIGIT_RUN.search(joined) is not None


def _uuid5_text(prefix: bytes, name: str) -> str:
    """``str(uuid.uuid5(ns, name))`` where ``prefix`` is ``ns.bytes`` (+ any fixed start of the name)."""
    raw = bytearray(hashlib.sha1(prefix + name.encode("utf-8"), usedforsecurity=False).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _JsonWire(dict):  # type: ignore[type-arg]
    """
    A validated row already serialised by pydantic (``json``: its wire body, UTF-8, compact); as a dict it
    carries only what the writer and the ledger sidecar need: orderId, idempotencyKey, expiryDateUtc.
    """

    __slots__ = ("json",)

    def __init__(self, model: Any, data: bytes) -> None:
        expiry = getattr(model, "expiry_date_utc", None)
        super().__init__(
            orderId=model.order_id,
            idempotencyKey=model.idempotency_key,
            expiryDateUtc=expiry.isoformat() if expiry is not None else None,
        )
        self.json = data


def _json_safe(model: Any) -> bool:
    """True when pydantic's JSON of ``model`` is byte for byte what ``json.dumps`` gives (its only float)."""
    value = model.transaction.timezone_utc_offset
    if value is None:
        return True
    size = abs(value)
    return math.isfinite(value) and size < 1e16 and (size == 0 or size >= 1e-4)


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class _SeenIds:
    """
    The order ids written so far in this run, as sorted 64-bit BLAKE2b digests (8 bytes an id, flat).

    A digest collision (odds ~n^2/2^65: ~3e-8 at 1,000,000 ids) would reject a new order as
    ``duplicate_order``; it is deterministic, so a rerun rejects the same row again.
    """

    def __init__(self) -> None:
        import numpy as np

        self._np = np
        self._sorted = np.empty(0, dtype=np.uint64)

    @staticmethod
    def digest(order_id: str) -> int:
        return int.from_bytes(hashlib.blake2b(order_id.encode("utf-8"), digest_size=8).digest(), "little")

    def __len__(self) -> int:
        return len(self._sorted)

    def contains(self, digests: list[int]) -> list[bool]:
        np = self._np
        if not digests or not len(self._sorted):
            return [False] * len(digests)
        arr = np.fromiter(digests, dtype=np.uint64, count=len(digests))
        pos = np.searchsorted(self._sorted, arr)
        pos[pos >= len(self._sorted)] = 0
        return (self._sorted[pos] == arr).tolist()  # type: ignore[no-any-return]

    def add(self, digests: list[int]) -> None:
        if not digests:
            return
        np = self._np
        arr = np.unique(np.fromiter(digests, dtype=np.uint64, count=len(digests)))
        self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, arr), arr)


class _Reject(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _safe_order_id(value: Any) -> str | None:
    """The order id as it may appear in the rejects file (never a card number)."""
    if _is_null(value):
        return None
    if _pan_in(value):
        return None
    try:
        return _coerce(value, "str")
    except _CoercionError:
        return None


_GC_PAUSED_BY_US = False


def _pause_gc() -> bool:
    """
    Pause the cyclic GC while one chunk is built (returns whether this call paused it).

    A chunk allocates ~100 container objects a row (bodies, models, wire dicts), none in a cycle;
    with the collector on, the full collections this triggers walk every live object of the worker
    again and again (~40% of the writer's time). Reference counting frees the chunk either way.
    """
    global _GC_PAUSED_BY_US
    if not gc.isenabled():
        return False
    gc.disable()
    _GC_PAUSED_BY_US = True
    return True


def _resume_gc(paused: bool | None) -> None:
    global _GC_PAUSED_BY_US
    if _GC_PAUSED_BY_US and paused is not False:
        _GC_PAUSED_BY_US = False
        gc.enable()


#: Rows validated per pydantic call: bulk enough to amortise the call, small enough that the bodies and
#: models of a slice (~5 KiB a row) stay a few MiB next to the chunk itself.
_SLICE = 1000
_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _list_adapter(model: type) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    return adapter


def _set_slow(value: Any, typ: str, column: str, target: dict[str, Any], key: str) -> None:
    """The general path of one column (any type): null check, coercion, reject on a type error."""
    if type(value) is str:
        value = value.strip()
        if not value:
            return
    elif _is_null(value):
        return
    try:
        target[key] = _coerce(value, typ)
    except _CoercionError as exc:
        raise _Reject(column, f"type_error: {exc}") from None


_FAST_TYPE = {"str": "str", "int": "int", "bool": "bool", "datetime": "datetime"}


def _compile_plan(plan: list[tuple[str, str | None, str, str] | None]) -> Callable[[Any], dict[str, Any]]:
    """
    One straight-line function per column layout: ``values`` (in column order) -> nested body.

    Same semantics as looping over the plan (first bad column raises, in column order; empty parents
    are left out), without the per-value plan lookups and type dispatch.
    """
    parents = sorted({step[1] for step in plan if step is not None and step[1] is not None})
    local = {p: f"p{i}" for i, p in enumerate(parents)}
    consts: dict[str, Any] = {}
    lines = ["def build(values):", "    body = {}"]
    lines += [f"    {local[p]} = {{}}" for p in parents]
    names = [f"v{i}" for i in range(len(plan))]
    if names:
        lines.append(f"    ({', '.join(names)},) = values")
    for i, step in enumerate(plan):
        if step is None:
            continue
        column, parent, key, typ = step
        target = "body" if parent is None else local[parent]
        c_col, c_key = f"c{i}", f"k{i}"
        consts[c_col], consts[c_key] = column, key
        v = names[i]
        fast = _FAST_TYPE.get(typ)
        lines.append(f"    if {v} is not None:")
        if typ == "str":
            lines += [
                f"        if type({v}) is str:",
                f"            {v} = {v}.strip()",
                f"            if {v}:",
                f"                {target}[{c_key}] = {v}",
                "        else:",
                f"            _set_slow({v}, {typ!r}, {c_col}, {target}, {c_key})",
            ]
        elif fast is not None:
            conv = f"_as_utc({v})" if typ == "datetime" else v
            lines += [
                f"        if type({v}) is {fast}:",
                f"            {target}[{c_key}] = {conv}",
                "        else:",
                f"            _set_slow({v}, {typ!r}, {c_col}, {target}, {c_key})",
            ]
        else:
            lines.append(f"        _set_slow({v}, {typ!r}, {c_col}, {target}, {c_key})")
    for p in parents:
        lines += [f"    if {local[p]}:", f"        body[{p!r}] = {local[p]}"]
    lines.append("    return body")
    scope: dict[str, Any] = {
        "_set_slow": _set_slow,
        "_as_utc": _as_utc,
        "str": str,
        "int": int,
        "bool": bool,
        "datetime": datetime,
        **consts,
    }
    exec("\n".join(lines), scope)  # noqa: S102 - source built above from the fixed column table
    return scope["build"]  # type: ignore[no-any-return]


# --- the writer ---------------------------------------------------------------------------------


class _OpenFile:
    """One batch file being written: a temporary body, hashed as it grows."""

    def __init__(self, writer: BatchWriter, number: int) -> None:
        self.writer = writer
        self.number = number
        self.name = writer.file_name(number)
        self.path = writer.out_dir / self.name
        self.rows = 0
        self.first_order_id: str | None = None
        self.last_order_id: str | None = None
        self.rows_hash = hashlib.sha256()
        # (order id, idempotency key, own expiryDateUtc) per row: the ledger's view, see ledger_rows_name.
        self.ledger_rows: list[tuple[str, str | None, str | None]] = []
        if writer.file_format == "csv":
            # No envelope: the header row is known up front, so write straight into the final temp file.
            self.tmp = self.path.with_name(self.name + ".tmp")
            self.fh = self.tmp.open("w", encoding="utf-8", newline="")
            self._buf = io.StringIO()
            self._csv = csv.writer(self._buf, lineterminator="\r\n")
            self._csv.writerow(CSV_COLUMNS)
            self.fh.write(self._take())
        else:
            self.tmp = self.path.with_name(self.name + ".body.tmp")
            self.fh = self.tmp.open("wb")

    def _take(self) -> str:
        text = self._buf.getvalue()
        self._buf.seek(0)
        self._buf.truncate()
        return text

    def add(self, wire: dict[str, Any]) -> None:
        self.rows += 1
        order_id = wire["orderId"]
        if self.first_order_id is None:
            self.first_order_id = order_id
        self.last_order_id = order_id
        if self.writer.file_format == "csv":
            flat = _flatten(wire)
            unknown = set(flat) - set(CSV_COLUMNS)
            if unknown:  # pragma: no cover - the mapping and CSV_COLUMNS come from the same table
                raise AssertionError(f"CSV columns missing for {sorted(unknown)}")
            self._csv.writerow([_csv_value(flat.get(c)) for c in CSV_COLUMNS])
            text = self._take()
            self.rows_hash.update(text.encode("utf-8"))
            self.fh.write(text)
            self.ledger_rows.append((order_id, wire.get("idempotencyKey") or None, None))
            return
        self._add_json(order_id, _ENCODE(wire), wire)

    def add_wire(self, wire: dict[str, Any]) -> None:
        """Add one validated wire body (without ``sequenceNumber``: it is numbered here)."""
        if isinstance(wire, _JsonWire):
            self.rows += 1
            order_id = wire["orderId"]
            if self.first_order_id is None:
                self.first_order_id = order_id
            self.last_order_id = order_id
            head = f'{{"sequenceNumber":"{self.rows}",'.encode()
            line = head + wire.json[1:]
            chunk = line if self.rows == 1 else b",\n" + line
            self.fh.write(chunk)
            self.rows_hash.update(chunk)
            self.ledger_rows.append((order_id, wire["idempotencyKey"], wire["expiryDateUtc"]))
            return
        if self.writer.file_format == "csv":
            self.add({"sequenceNumber": str(self.rows + 1), **wire})
            return
        self.rows += 1
        order_id = wire["orderId"]
        if self.first_order_id is None:
            self.first_order_id = order_id
        self.last_order_id = order_id
        # Same bytes as json.dumps({"sequenceNumber": n, **wire}, ...): the key goes first.
        self._add_json(order_id, f'{{"sequenceNumber":"{self.rows}",' + _ENCODE(wire)[1:], wire)

    def _add_json(self, order_id: str, text: str, wire: Mapping[str, Any]) -> None:
        line = text.encode("utf-8")
        chunk = line if self.rows == 1 else b",\n" + line
        self.fh.write(chunk)
        self.rows_hash.update(chunk)
        self.ledger_rows.append((order_id, wire.get("idempotencyKey"), wire.get("expiryDateUtc")))

    def close(self) -> ManifestEntry:
        """Finish the file under its final name; returns its manifest entry."""
        w = self.writer
        if w.file_format == "csv":
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()
            digest = _sha256_file(self.tmp)
            os.replace(self.tmp, self.path)
        else:
            self.fh.close()
            self.rows_hash.update(b"\n")
            header = BatchHeader(
                file_type=w.kind,
                mid=w.mid,
                business_date=w.business_date,
                file_number=self.number,
                row_count=self.rows,
                expiry_date_utc=w.default_expiry if w.kind == "evaluate" else None,
                authorization_token="",
            ).to_wire()
            if header.get("expiryDateUtc") is None:
                header.pop("expiryDateUtc", None)
            first_line = _envelope_line(header).encode("utf-8") + b"\n"
            final_tmp = self.path.with_name(self.name + ".tmp")
            hasher = hashlib.sha256(first_line)
            with final_tmp.open("wb") as out, self.tmp.open("rb") as body:
                out.write(first_line)
                while block := body.read(1 << 20):
                    out.write(block)
                    hasher.update(block)
                tail = b"\n]}\n"
                out.write(tail)
                hasher.update(tail)
                out.flush()
                os.fsync(out.fileno())
            os.replace(final_tmp, self.path)
            self.tmp.unlink()
            digest = hasher.hexdigest()
        default = header.get("expiryDateUtc") if w.file_format == "json" else None
        sidecar = {
            "file": self.name,
            "sha256": digest,
            "rows": self.rows,
            "default_expiry": default,
            "ledger_rows": self.ledger_rows,
        }
        _write_atomic(
            self.path.with_name(ledger_rows_name(self.name)),
            _ENCODE(sidecar).encode("utf-8") + b"\n",
        )
        self.ledger_rows = []
        return ManifestEntry(
            name=self.name,
            rows=self.rows,
            sha256=digest,
            rows_sha256=self.rows_hash.hexdigest(),
            first_order_id=self.first_order_id,
            last_order_id=self.last_order_id,
        )

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


def _flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _envelope_line(header: Mapping[str, Any]) -> str:
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False)
    return text[:-1] + ',"rows":['


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class BatchWriter:
    """
    Stream flat source rows into evaluate or transmit batch files.

    :param kind: ``evaluate`` or ``transmit``.
    :param mid: merchant id written into every row and the envelope.
    :param business_date: the day the files belong to (file names, envelope).
    :param out_dir: local folder for batch files, rejects CSV and manifest (created if missing).
    :param rows_per_file: at most this many rows a file; never above 2000 (Flex's limit).
    :param prefix: file-name prefix; default ``evaluate_`` / ``transmit_``.
    :param file_format: ``json`` (both kinds) or ``csv`` (transmit only).
    :param default_expiry: evaluate only: the envelope's ``expiryDateUtc``; a datetime, or a timedelta
        added to midnight UTC of ``business_date``. None leaves it out (each row's own value applies).
    :param already_shipped: optional ledger callback: given order ids, returns those already shipped
        by another run; such rows are rejected ``already_shipped``.
    :param first_file_number: number of the first file written (default 1). A day whose files were
        already uploaded continues after them (``FlexLedger.next_file_number``), so late rows go into
        new files; files numbered below it are an earlier run's and are never touched.
    :param now: clock for the ``expiry_in_past`` check (default: the system clock, UTC).

    Besides the schema (pydantic), a row is rejected when its amount is not above zero
    (``invalid_amount``), a currency is not an active ISO 4217 code (``invalid_currency``), or its
    effective expiry (its own ``expiry_date_utc``, else ``default_expiry``) is not in the future
    (``expiry_in_past``).
    """

    def __init__(
        self,
        *,
        kind: Kind,
        mid: str,
        business_date: date,
        out_dir: str | os.PathLike[str],
        rows_per_file: int = MAX_ROWS_PER_FILE,
        prefix: str | None = None,
        file_format: FileFormat = "json",
        default_expiry: datetime | timedelta | None = None,
        already_shipped: Callable[[list[str]], set[str]] | None = None,
        first_file_number: int = 1,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        if kind not in ("evaluate", "transmit"):
            raise ValueError(f"kind must be 'evaluate' or 'transmit', not {kind!r}")
        if not 1 <= int(rows_per_file) <= MAX_ROWS_PER_FILE:
            raise ValueError(f"rows_per_file must be between 1 and {MAX_ROWS_PER_FILE}, not {rows_per_file}")
        if file_format not in ("json", "csv"):
            raise ValueError(f"file_format must be 'json' or 'csv', not {file_format!r}")
        if file_format == "csv" and kind != "transmit":
            raise ValueError("CSV is only defined for transmit files")
        if not mid:
            raise ValueError("mid is required")
        if not 1 <= int(first_file_number) <= 9999:
            raise ValueError(f"first_file_number must be between 1 and 9999, not {first_file_number}")
        if isinstance(business_date, datetime):
            business_date = business_date.date()
        self.kind: Kind = kind
        self.mid = mid
        self.business_date = business_date
        self.out_dir = Path(out_dir)
        self.rows_per_file = int(rows_per_file)
        self.prefix = prefix if prefix is not None else f"{kind}_"
        self.file_format: FileFormat = file_format
        if isinstance(default_expiry, timedelta):
            default_expiry = datetime.combine(business_date, time(), tzinfo=timezone.utc) + default_expiry
        self.default_expiry = _as_utc(default_expiry) if default_expiry is not None else None
        self.already_shipped = already_shipped
        self.first_file_number = int(first_file_number)
        self._model = EvaluateRequest if kind == "evaluate" else TransmitRequest
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._plans: dict[tuple[Any, ...], list[tuple[str, str | None, str, str] | None]] = {}
        self._compiled: dict[tuple[Any, ...], Callable[[Any], dict[str, Any]]] = {}
        self._idem_prefix = _NS_BYTES + f"{mid}:".encode()
        self._idem_suffix = f":{kind}"

    # -- names ---------------------------------------------------------------------------------

    @property
    def _stem(self) -> str:
        return f"{self.mid}_{self.business_date:%Y%m%d}"

    def file_name(self, number: int) -> str:
        """Name of batch file ``number`` (1-based)."""
        return f"{self.prefix}{self._stem}_{number:04d}.{self.file_format}"

    @property
    def rejects_name(self) -> str:
        """Name of the local rejects CSV."""
        return f"rejects_{self.kind}_{self._stem}.csv"

    @property
    def manifest_name(self) -> str:
        """Name of the local manifest."""
        return f"manifest_{self.kind}_{self._stem}.json"

    # -- rows ----------------------------------------------------------------------------------

    def _plan(self, columns: tuple[Any, ...]) -> list[tuple[str, str | None, str, str] | None]:
        """Per source column (in row order): None to skip, else (column, parent key, key, type)."""
        plan = self._plans.get(columns)
        if plan is None:
            plan = []
            for column in columns:
                col = COLUMN_ALIASES.get(column, column)
                if col in CONTROL_COLUMNS or col not in SOURCE_COLUMNS:
                    plan.append(None)
                    continue
                if col in _EVALUATE_ONLY and self.kind != "evaluate":
                    plan.append(None)
                    continue
                path, typ = SOURCE_COLUMNS[col]
                plan.append((str(column), path[0] if len(path) > 1 else None, path[-1], typ))
            if len(self._plans) < 64:
                self._plans[columns] = plan
        return plan

    def _body(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The nested request body of one raw row (not yet validated), or raises _Reject."""
        if _row_may_hold_pan(raw.values()):
            for column, value in raw.items():
                if _pan_in(value):
                    raise _Reject(mask_pans(str(column)), "pan_detected")
        columns = tuple(raw)
        build = self._compiled.get(columns)
        if build is None:
            build = _compile_plan(self._plan(columns))
            if len(self._compiled) < 64:
                self._compiled[columns] = build
        body = build(tuple(raw.values()))
        source_mid = raw.get("mid")
        if not _is_null(source_mid) and _coerce(source_mid, "str") != self.mid:
            raise _Reject("mid", "mid_mismatch: row mid differs from the batch mid")
        order_id = body.get("orderId")
        if order_id is None:
            raise _Reject("order_id", "missing: Field required")
        payment = body.get("paymentMethod")
        if payment is not None and "cardNumber" in payment:
            payment["token"] = True
        if self.kind == "evaluate":
            body.setdefault("isMIT", True)
            body.setdefault("isRecurring", True)
        body["mid"] = self.mid
        body["idempotencyKey"] = _uuid5_text(self._idem_prefix, order_id + self._idem_suffix)
        return body

    def _validate_one(self, body: dict[str, Any]) -> Any:
        """Validate one body with the REST model; raises _Reject naming the first error."""
        try:
            return self._model.model_validate(body)
        except ValidationError as exc:
            err = exc.errors(include_input=False, include_url=False, include_context=False)[0]
            loc = ".".join(str(p) for p in err["loc"])
            field = _PATH_TO_COLUMN.get(loc, loc)
            raise _Reject(field, f"{err['type']}: {mask_pans(err['msg'])}") from None

    def _check_semantics(self, model: Any, now: datetime) -> None:
        """What the schema cannot say: amount above zero, a real currency, an expiry in the future."""
        tx = model.transaction
        if tx.amount <= 0:
            raise _Reject("amount_cents", "invalid_amount: the amount must be above zero")
        if tx.currency not in ISO_4217_CURRENCIES:
            raise _Reject("currency", "invalid_currency: not an active ISO 4217 currency code")
        sub = model.subscription
        if sub is not None and sub.currency is not None and sub.currency not in ISO_4217_CURRENCIES:
            raise _Reject("subscription_currency", "invalid_currency: not an active ISO 4217 currency code")
        if self.kind == "evaluate":
            expiry = model.expiry_date_utc or self.default_expiry
            if expiry is not None and _as_utc(expiry) <= now:
                raise _Reject("expiry_date_utc", "expiry_in_past: the rescue window has already closed")

    def _build_chunk(self, records: list[Mapping[str, Any]]) -> list[dict[str, Any] | _Reject]:
        """Per row of ``records``, its wire body (no sequenceNumber) or a _Reject; see ``_build_slice``."""
        if len(records) <= _SLICE:
            return self._build_slice(records)
        out: list[dict[str, Any] | _Reject] = []
        for start in range(0, len(records), _SLICE):
            out.extend(self._build_slice(records[start : start + _SLICE]))
        return out

    def _build_slice(self, records: list[Mapping[str, Any]]) -> list[dict[str, Any] | _Reject]:
        """
        Validate a chunk of raw rows in bulk; per row, its wire body (no sequenceNumber) or a _Reject.

        One ``TypeAdapter(list[Model])`` validation and one dump per chunk; only when the chunk has
        schema errors are the failing rows validated one by one (for their exact reject reason).
        """
        out: list[dict[str, Any] | _Reject] = []
        bodies: list[dict[str, Any]] = []
        where: list[int] = []
        for raw in records:
            try:
                body = self._body(raw)
            except _Reject as rej:
                out.append(rej)
                continue
            where.append(len(out))
            out.append(body)  # replaced below
            bodies.append(body)
        if not bodies:
            return out
        adapter = _list_adapter(self._model)
        try:
            models = adapter.validate_python(bodies)
        except ValidationError as exc:
            bad = {
                err["loc"][0]
                for err in exc.errors(include_input=False, include_url=False, include_context=False)
            }
            keep_where, keep_bodies = [], []
            for i, (pos, body) in enumerate(zip(where, bodies, strict=True)):
                if i in bad:
                    try:
                        self._validate_one(body)
                    except _Reject as rej:
                        out[pos] = rej
                        continue
                keep_where.append(pos)
                keep_bodies.append(body)
            where, bodies = keep_where, keep_bodies
            models = adapter.validate_python(bodies) if bodies else []
        now = self._now()
        good_where, good_models = [], []
        for pos, model in zip(where, models, strict=True):
            try:
                self._check_semantics(model, now)
            except _Reject as rej:
                out[pos] = rej
                continue
            good_where.append(pos)
            good_models.append(model)
        if good_models:
            if self.file_format == "json":
                to_json = self._model.__pydantic_serializer__.to_json
                for pos, model in zip(good_where, good_models, strict=True):
                    if _json_safe(model):
                        out[pos] = _JsonWire(model, to_json(model, by_alias=True, exclude_none=True))
                    else:  # a float pydantic would print unlike json.dumps: the Python path
                        out[pos] = model.to_wire()
            else:
                wires = adapter.dump_python(good_models, mode="json", by_alias=True, exclude_none=True)
                for pos, wire in zip(good_where, wires, strict=True):
                    out[pos] = wire
        return out

    def _build(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Validate one raw row; returns the wire body (without sequenceNumber) or raises _Reject."""
        result = self._build_chunk([raw])[0]
        if isinstance(result, _Reject):
            raise result
        if isinstance(result, _JsonWire):
            return json.loads(result.json)  # type: ignore[no-any-return]
        return result

    @staticmethod
    def _records(chunk: Any) -> list[Mapping[str, Any]]:
        if isinstance(chunk, list):
            return chunk
        to_dict = getattr(chunk, "to_dict", None)
        if to_dict is not None:  # a pandas DataFrame
            return to_dict("records")
        return list(chunk)

    # -- run -----------------------------------------------------------------------------------

    def write(self, chunks: Iterable[Any]) -> dict[str, Any]:
        """
        Write every row of ``chunks`` into batch files, the rejects CSV and (last) the manifest.

        :param chunks: pandas DataFrames or lists of dicts in the flat source-column layout.
        :return: a small summary (JSON-serialisable, fit for XCom).
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        entries: list[ManifestEntry] = []
        reasons: Counter[str] = Counter()
        seen = _SeenIds()  # flat: 8 bytes an order id
        extracted = written = 0
        current: _OpenFile | None = None
        rejects_path = self.out_dir / self.rejects_name
        rejects_tmp = rejects_path.with_name(rejects_path.name + ".tmp")
        rejects_fh = rejects_tmp.open("w", encoding="utf-8", newline="")
        rejects = csv.writer(rejects_fh, lineterminator="\r\n")
        rejects.writerow(["source_row", "order_id", "field", "reason"])
        unknown_columns: set[str] = set()

        def reject(source_row: int, order_id: Any, field: str, reason: str) -> None:
            rejects.writerow([source_row, _safe_order_id(order_id) or "", field, reason])
            reasons[reason.split(":", 1)[0]] += 1

        try:
            for chunk in chunks:
                records = self._records(chunk)
                paused = _pause_gc()
                if records and len(unknown_columns) < 50:
                    unknown_columns.update(
                        c
                        for c in records[0]
                        if COLUMN_ALIASES.get(c, c) not in SOURCE_COLUMNS and c not in CONTROL_COLUMNS
                    )
                built: list[tuple[int, Mapping[str, Any], dict[str, Any] | None]] = []
                for raw, result in zip(records, self._build_chunk(records), strict=True):
                    extracted += 1
                    if isinstance(result, _Reject):
                        built.append((extracted, raw, None))
                        reject(extracted, raw.get("order_id"), result.field, result.reason)
                    else:
                        built.append((extracted, raw, result))
                ids = [w["orderId"] for _n, _r, w in built if w is not None]
                digests = [_SeenIds.digest(i) for i in ids]
                earlier = dict(zip(ids, seen.contains(digests), strict=True))
                shipped: set[str] = set()
                if self.already_shipped is not None:
                    candidates = sorted({i for i, old in earlier.items() if not old})
                    if candidates:
                        shipped = set(self.already_shipped(candidates))
                this_chunk: set[str] = set()
                new_digests: list[int] = []
                for (source_row, _raw, wire), digest in zip(
                    ((b for b in built if b[2] is not None)), digests, strict=True
                ):
                    assert wire is not None
                    order_id = wire["orderId"]
                    if order_id in shipped:
                        reject(source_row, order_id, "order_id", "already_shipped")
                        continue
                    if earlier[order_id] or order_id in this_chunk:
                        reject(source_row, order_id, "order_id", "duplicate_order")
                        continue
                    this_chunk.add(order_id)
                    new_digests.append(digest)
                    if current is None:
                        current = _OpenFile(self, self.first_file_number + len(entries))
                    current.add_wire(wire)
                    written += 1
                    if current.rows >= self.rows_per_file:
                        entries.append(current.close())
                        current = None
                seen.add(new_digests)
                del this_chunk, new_digests, earlier, ids, digests
                raw = result = _raw = wire = None  # hold no row of this chunk
                _resume_gc(paused)
                # Let go of this chunk before asking for the next: one chunk (+ one row) at a time.
                del built, records, chunk
            if current is not None:
                entries.append(current.close())
                current = None
        except BaseException:
            _resume_gc(None)
            if current is not None:
                current.abort()
            rejects_fh.close()
            rejects_tmp.unlink(missing_ok=True)
            raise
        rejects_fh.flush()
        os.fsync(rejects_fh.fileno())
        rejects_fh.close()
        os.replace(rejects_tmp, rejects_path)
        rejected = sum(reasons.values())
        if extracted != written + rejected:  # pragma: no cover - a bug, never a data problem
            raise AssertionError(f"row accounting broken: {extracted} != {written} + {rejected}")
        if unknown_columns:
            log.warning(
                "Ignored source columns not in the batch layout: %s",
                mask_pans(", ".join(sorted(str(c) for c in unknown_columns))),
            )
        self._remove_stale({e.name for e in entries})
        manifest = Manifest(
            kind=self.kind,
            mid=self.mid,
            business_date=self.business_date,
            file_format=self.file_format,
            files=entries,
            rejects_file=self.rejects_name,
            rejects_sha256=_sha256_file(rejects_path),
            totals=ManifestTotals(extracted=extracted, written=written, rejected=rejected),
        )
        manifest_path = self.out_dir / self.manifest_name
        _write_atomic(
            manifest_path, (json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n").encode("utf-8")
        )
        log.info(
            "Wrote %d %s file(s) for %s: %d rows extracted, %d written, %d rejected",
            len(entries),
            self.kind,
            self.business_date,
            extracted,
            written,
            rejected,
        )
        return {
            "kind": self.kind,
            "mid": self.mid,
            "business_date": self.business_date.isoformat(),
            "out_dir": str(self.out_dir),
            "manifest": str(manifest_path),
            "files": [e.name for e in entries],
            "rejects_file": str(rejects_path),
            "extracted": extracted,
            "written": written,
            "rejected": rejected,
            "rejected_by_reason": dict(sorted(reasons.items())),
        }

    def _remove_stale(self, keep: set[str]) -> None:
        """
        Delete batch files of this kind/mid/day left by an earlier run that produced more files.

        Only numbers from ``first_file_number`` on are this run's to rebuild; lower ones stay.
        """
        pattern = re.compile(
            re.escape(f"{self.prefix}{self._stem}_") + r"(\d{4})\." + self.file_format + r"$"
        )
        side_pattern = re.compile(
            r"ledger_rows_("
            + re.escape(f"{self.prefix}{self._stem}_")
            + r"(\d{4})\."
            + self.file_format
            + r")\.json$"
        )
        for path in self.out_dir.iterdir():
            m = pattern.match(path.name)
            side = side_pattern.match(path.name)
            if side and side.group(1) not in keep and int(side.group(2)) >= self.first_file_number:
                path.unlink()
                continue
            if m and path.name not in keep and int(m.group(1)) >= self.first_file_number:
                log.warning("Removing stale batch file %s from an earlier run", path.name)
                path.unlink()
            elif path.name.endswith(".tmp") and path.name.startswith(f"{self.prefix}{self._stem}_"):
                path.unlink()


# --- helpers for the shipper and the ledger -----------------------------------------------------


def fill_authorization_token(first_line: str, bearer_token: str) -> str:
    """
    Return line 1 of a JSON batch file with ``authorizationToken`` set to ``Bearer <token>``.

    Lines that are not a JSON envelope (a CSV header row) come back unchanged: CSV files carry no token.
    """
    stripped = first_line.rstrip("\r\n")
    if not stripped.startswith("{"):
        return stripped
    if not stripped.endswith('"rows":['):
        raise ValueError("line 1 is not a batch envelope (it must end with '\"rows\":[')")
    header = json.loads(stripped + "]}")
    header.pop("rows")
    if "authorizationToken" not in header:
        raise ValueError("line 1 has no authorizationToken key")
    token = bearer_token if bearer_token.startswith("Bearer ") else f"Bearer {bearer_token}"
    header["authorizationToken"] = token
    return _envelope_line(header)


def first_line_transform(bearer_token: str) -> Callable[[str], str]:
    """A ``transform_first_line`` callable for ``FlexSFTPHook.upload_files`` that inserts the token."""

    def _transform(line: str) -> str:
        return fill_authorization_token(line, bearer_token)

    return _transform


def render_for_upload(path: str | os.PathLike[str], bearer_token: str) -> str:
    """Read line 1 of a local batch file and return it with the bearer token filled in."""
    with Path(path).open(encoding="utf-8") as fh:
        return fill_authorization_token(fh.readline(), bearer_token)


def iter_batch_rows(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """
    Stream the ledger view of a local batch file (JSON or CSV) this writer produced.

    Yields ``order_id``, ``sequence_number``, ``idempotency_key`` and ``expiry_date_utc`` (the row's
    own value, else the envelope default, as an aware datetime or None), one row at a time.
    """
    p = Path(path)
    if p.suffix == ".csv":
        with p.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                yield {
                    "order_id": row["orderId"],
                    "sequence_number": row["sequenceNumber"],
                    "idempotency_key": row.get("idempotencyKey") or None,
                    "expiry_date_utc": None,
                }
        return
    with p.open(encoding="utf-8") as fh:
        header = json.loads(fh.readline().rstrip("\n") + "]}")
        default = header.get("expiryDateUtc")
        for line in fh:
            line = line.rstrip("\n").rstrip(",")
            if not line or line == "]}":
                continue
            row = json.loads(line)
            expiry = row.get("expiryDateUtc") or default
            yield {
                "order_id": row["orderId"],
                "sequence_number": row["sequenceNumber"],
                "idempotency_key": row.get("idempotencyKey"),
                "expiry_date_utc": _as_utc(datetime.fromisoformat(expiry.replace("Z", "+00:00")))
                if expiry
                else None,
            }


def ledger_rows_name(batch_file_name: str) -> str:
    """Name of the sidecar next to a batch file holding its ledger rows (see :func:`read_ledger_rows`)."""
    return f"ledger_rows_{batch_file_name}.json"


def read_ledger_rows(path: str | os.PathLike[str], sha256: str | None = None) -> list[dict[str, Any]] | None:
    """
    The ledger view of a batch file (as :func:`iter_batch_rows` yields it) from the writer's sidecar.

    None when there is no sidecar, or it is not this file's (its recorded ``sha256`` differs from
    ``sha256``, or the file itself when ``sha256`` is None): read the file with ``iter_batch_rows`` then.
    """
    p = Path(path)
    side = p.with_name(ledger_rows_name(p.name))
    try:
        doc = json.loads(side.read_bytes())
    except (OSError, ValueError):
        return None
    expected = sha256 if sha256 is not None else (_sha256_file(p) if p.is_file() else None)
    if not isinstance(doc, dict) or doc.get("file") != p.name or doc.get("sha256") != expected:
        return None
    rows = doc.get("ledger_rows")
    if not isinstance(rows, list) or len(rows) != doc.get("rows"):
        return None
    parsed: dict[str, datetime | None] = {}

    def when(text: str | None) -> datetime | None:
        if not text:
            return None
        if text not in parsed:
            parsed[text] = _as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
        return parsed[text]

    default = doc.get("default_expiry")
    return [
        {
            "order_id": order_id,
            "sequence_number": str(n),
            "idempotency_key": key,
            "expiry_date_utc": when(expiry or default),
        }
        for n, (order_id, key, expiry) in enumerate(rows, start=1)
    ]


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Load and validate a manifest written by :class:`BatchWriter`."""
    return Manifest.model_validate_json(Path(path).read_bytes())
