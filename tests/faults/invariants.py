"""
The one invariant checker every fault test ends with.

After any fault and the reruns that follow it, the same four things must hold:

1. **Nothing lost, nothing doubled locally**: every extracted decline is in exactly one of {shipped once
   (one ledger row, in an uploaded file, its merchant row marked), rejected with a reason (rejects CSV,
   never in a batch file, merchant row still DECLINED with the reason)}; ``extracted == written +
   rejected`` in every manifest.
2. **One final state** (``final=True``, after the rescue window): every shipped order has exactly one
   final status in the ledger, the same one Flex (the sandbox) has, and the merchant row shows it.
3. **Sent to Flex once**: the sandbox holds at most one order per merchant order id, only for orders
   in the ledger, with the ledger's idempotency key; bad rows never reach it. A whole file delivered
   again (at-least-once transfer) is counted as ``resent_rows``: each copy must carry the same
   idempotency key, so Flex's dedupe makes the effect exactly-once.
4. **No leak**: no secret, bearer token, webhook key or test card number in any scanned file.

``check_invariants`` raises ``AssertionError`` listing every violation, and returns counts for the report.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from flex_provider.ledger import FINAL, FlexLedger, batch_files, batch_rows, order_state, outbound_files

SANDBOX_STATUS = {7: "APPROVED", 8: "EXPIRED", 2: "CANCELLED", 6: "REFUNDED"}
MERCHANT_FOR = {"APPROVED": "PAID", "EXPIRED": "FAILED", "CANCELLED": "CANCELLED", "REFUNDED": "REFUNDED"}
PAN_KINDS = {k for k in ("pan_in_description", "pan_in_card_token", "pan_in_holder_name",
                         "pan_spaced_in_email", "pan_in_decline_message")}  # fmt: skip
TEST_PANS = ("4111111111111111", "5555555555554444", "4000002760003184", "378282246310005",
             "4000300011112220", "4242424242424242", "6011111111111117")  # fmt: skip


class InvariantError(AssertionError):
    """One or more invariants failed; ``problems`` lists them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invariants violated:\n  - " + "\n  - ".join(problems[:40]))
        self.problems = problems


def _rejects(world: Any) -> dict[str, list[str]]:
    """order id -> reject reasons, over every rejects CSV the world's extracts wrote."""
    out: dict[str, list[str]] = defaultdict(list)
    for summary in world.extracts.values():
        path = Path(summary["rejects_file"])
        if not path.exists():
            continue
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                out[row["order_id"]].append(row["reason"])
    return out


def ledger_rows(world: Any) -> dict[str, dict[str, Any]]:
    """
    order id -> ledger row as shipped (evaluate), plus ``file_state`` and the order's folded state:
    ``status`` is the state's (SHIPPED while no event moved it), ``state_count`` how many state rows exist.
    """
    ledger = FlexLedger.from_url(world.ledger_url)
    try:
        ledger._ensure()
        with ledger.engine.connect() as conn:
            rows = conn.execute(
                select(
                    batch_rows,
                    batch_files.c.state.label("file_state"),
                    batch_files.c.ack_status,
                    order_state.c.status.label("state_status"),
                    order_state.c.sent_at.label("state_sent_at"),
                )
                .join(batch_files, batch_files.c.name == batch_rows.c.file_name)
                .outerjoin(
                    order_state,
                    (order_state.c.mid == batch_rows.c.mid) & (order_state.c.order_id == batch_rows.c.order_id),
                )
                .where(batch_rows.c.mid == world.mid, batch_rows.c.kind == "evaluate")
            ).mappings()
            out = {}
            for r in rows:
                row = dict(r)
                row["status"] = row["state_status"] or "SHIPPED"
                out[r["order_id"]] = row
            return out
    finally:
        ledger.engine.dispose()


def sandbox_orders(world: Any) -> dict[str, list[dict[str, Any]]]:
    """Merchant order id -> the sandbox's orders for it (only this world's ids)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in world.sandbox.admin("GET", "/orders").json():
        if o["mid"] == world.mid and f"-{world.tag}-" in str(o["external_order_id"]):
            out[o["external_order_id"]].append(o)
    return out


def delivered_rows(world: Any) -> Counter[tuple[str, str]]:
    """(order id, idempotency key) -> how often Flex received it in a batch file (archive + inbound)."""
    prefix = f"ord-{world.tag}-"
    seen: Counter[tuple[str, str]] = Counter()
    for folder in ("archive", "inbound", "quarantine"):
        root = world.sftp_root / folder
        if not root.is_dir():
            continue
        for path in root.iterdir():
            if not path.name.startswith("evaluate_") or path.name.endswith((".part", ".reason")):
                continue
            try:
                doc = json.loads(path.read_bytes())
            except ValueError:
                continue
            for row in doc.get("rows", []):
                if str(row.get("orderId", "")).startswith(prefix):
                    seen[(row["orderId"], row.get("idempotencyKey"))] += 1
    return seen


def check_invariants(world: Any, *, final: bool = False, marked: bool = True) -> dict[str, Any]:
    """
    Check invariants 1-3 for everything ``world`` extracted so far; raise :class:`InvariantError`.

    :param final: also require one final state per shipped order (after ``world.finish()``).
    :param marked: also check the merchant rows were marked (after ``mark``).
    :return: counts (shipped, rejected, approved, expired, resent_rows, ...).
    """
    problems: list[str] = []
    rejects = _rejects(world)
    ledger = ledger_rows(world)
    at_flex = sandbox_orders(world)
    merchant = world.merchant_rows()
    by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in merchant:
        by_order[row["order_id"]].append(row)
    days = set(world.extracts)

    # manifests: extracted == written + rejected; every reject has a reason
    for day, summary in world.extracts.items():
        if summary["extracted"] != summary["written"] + summary["rejected"]:
            problems.append(f"{day}: extracted {summary['extracted']} != written + rejected")
    for order_id, reasons in rejects.items():
        if any(not r.strip() for r in reasons):
            problems.append(f"{order_id}: rejected without a reason")

    counts: Counter[str] = Counter()
    for order_id, kind in world.expect.items():
        rows = by_order.get(order_id, [])
        first = min(rows, key=lambda r: r["id"]) if rows else None
        if first is None or str(first["attempted_at"])[:10] not in days:
            continue  # not extracted yet
        led = ledger.get(order_id)
        reasons = rejects.get(order_id, [])
        flex = at_flex.get(order_id, [])
        if kind in ("ok", "duplicate_order"):
            if led is None:
                problems.append(f"{order_id} ({kind}): extracted but neither shipped nor rejected: {reasons}")
                continue
            own = [r for r in reasons if r.split(":")[0] not in ("duplicate_order", "already_shipped")]
            if own:
                problems.append(f"{order_id}: shipped and also rejected {own}")
            if kind == "duplicate_order" and not any(r.startswith("duplicate_order") for r in reasons):
                problems.append(f"{order_id}: duplicate row not rejected as duplicate_order: {reasons}")
            if led["file_state"] not in ("uploaded", "acknowledged"):
                problems.append(f"{order_id}: in ledger file {led['file_name']} that is {led['file_state']}")
                continue
            counts["shipped"] += 1
            if led["state_sent_at"] is None:
                problems.append(f"{order_id}: uploaded in {led['file_name']} but no shipped event in the ledger")
            if len(flex) > 1:
                problems.append(f"{order_id}: {len(flex)} orders at Flex (sent twice)")
            if led["status"] != "REJECTED" and led["file_state"] == "acknowledged" and not flex:
                problems.append(f"{order_id}: acknowledged {led['status']} but no order at Flex")
            for o in flex:
                if o["idempotency_key"] != led["idempotency_key"]:
                    problems.append(f"{order_id}: Flex order has another idempotency key than the ledger")
            if marked:
                others = [r for r in rows if r is not first]
                if first["status"] == "DECLINED" and led["status"] != "REJECTED":
                    problems.append(f"{order_id}: shipped but the merchant row is still DECLINED")
                if first["flex_sent_at"] is None:
                    problems.append(f"{order_id}: shipped but flex_sent_at is not set")
                if any(r["status"] != "DECLINED" for r in others):
                    problems.append(f"{order_id}: the duplicate merchant row moved too")
            if final:
                status = led["status"]
                if status == "REJECTED":
                    counts["rejected_by_flex"] += 1
                    if flex:
                        problems.append(f"{order_id}: REJECTED by Flex's ack but Flex has an order")
                    if marked and first["status"] != "DECLINED":
                        problems.append(f"{order_id}: REJECTED by Flex but merchant status {first['status']}")
                    continue
                if status not in FINAL:
                    problems.append(f"{order_id}: no final state after the rescue window (ledger {status})")
                    continue
                counts[status.lower()] += 1
                sb = {SANDBOX_STATUS.get(o["status"], str(o["status"])) for o in flex}
                if sb != {status}:
                    problems.append(f"{order_id}: ledger says {status}, Flex says {sorted(sb)}")
                if marked and first["status"] != MERCHANT_FOR[status]:
                    problems.append(f"{order_id}: ledger {status} but merchant status {first['status']}")
        else:
            counts["rejected"] += 1
            if led is not None:
                problems.append(f"{order_id}: bad row ({kind}) was shipped in {led['file_name']}")
            if flex:
                problems.append(f"{order_id}: bad row ({kind}) reached Flex")
            if not reasons:
                problems.append(f"{order_id}: bad row ({kind}) not in any rejects file")
            elif kind in PAN_KINDS and not all(r.startswith("pan_detected") for r in reasons):
                problems.append(f"{order_id}: card number row rejected as {reasons}, not pan_detected")
            if marked and rows:
                if any(r["status"] != "DECLINED" for r in rows):
                    problems.append(f"{order_id}: bad row moved to {[r['status'] for r in rows]}")
                if reasons and first["flex_reject_reason"] is None:
                    problems.append(f"{order_id}: reject reason not written back to the merchant row")

    # nothing at Flex or in the ledger that this world did not extract as a good row
    for order_id in {o for o in at_flex if o.startswith("ord-")} | set(ledger):
        if world.expect.get(order_id) not in ("ok", "duplicate_order"):
            problems.append(f"{order_id}: at Flex or in the ledger but never a good extracted row")

    # nothing Flex wrote is set aside unless the test broke it on purpose
    ledger_db = FlexLedger.from_url(world.ledger_url)
    try:
        with ledger_db._begin() as conn:
            quarantined = dict(
                conn.execute(
                    select(outbound_files.c.name, outbound_files.c.error).where(
                        outbound_files.c.status == "quarantined"
                    )
                ).all()
            )
    finally:
        ledger_db.engine.dispose()
    for name, error in quarantined.items():
        if name not in world.expected_quarantine:
            problems.append(f"outbound file {name} quarantined although intact: {error}")
        elif not error:
            problems.append(f"outbound file {name} quarantined without a reason")
    counts["quarantined"] = len(quarantined)

    delivered = delivered_rows(world)
    keys: dict[str, set[str]] = defaultdict(set)
    for (order_id, key), n in delivered.items():
        keys[order_id].add(key)
        counts["resent_rows"] += n - 1
    for order_id, ks in keys.items():
        if len(ks) > 1:
            problems.append(f"{order_id}: delivered with {len(ks)} different idempotency keys")
    if problems:
        raise InvariantError(problems)
    return counts  # a Counter: a kind of outcome no order reached counts 0 (10 orders may all expire)


# --- 4. secrets ------------------------------------------------------------------------------------


def secret_needles(sandbox_info: dict[str, Any], tokens: Iterable[str] = ()) -> dict[str, bytes]:
    """label -> bytes that must never appear: app secret, tokenization key, webhook key, tokens, PANs."""
    needles: dict[str, bytes] = {
        "app_secret": sandbox_info["app_secret"].encode(),
        "tokenization_key": sandbox_info["tokenization_key"].encode(),
        "webhook_subscriber_key": sandbox_info["webhook_subscriber_key"].encode(),
    }
    for i, token in enumerate(t for t in tokens if t):
        needles[f"bearer_token_{i}"] = token.encode()
        needles[f"bearer_token_{i}_signature"] = token.rsplit(".", 1)[-1].encode()
    for pan in TEST_PANS:
        needles[f"pan_{pan[:6]}"] = pan.encode()
        groups = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
        needles[f"pan_{pan[:6]}_spaced"] = groups.encode()
        needles[f"pan_{pan[:6]}_dashed"] = groups.replace(" ", "-").encode()
    return needles


_BEARER_RE = re.compile(rb"Bearer\s+[A-Za-z0-9\-_]{8,}\.[A-Za-z0-9\-_]{8,}")


def scan_for_secrets(
    paths: Sequence[str | os.PathLike[str]],
    needles: dict[str, bytes],
    *,
    skip_names: Sequence[str] = (),
) -> tuple[int, list[str]]:
    """
    Read every file under ``paths`` (text and binary, SQLite files too) and look for the needles and for
    anything shaped like ``Bearer <jwt>``. Returns (files scanned, findings as ``path: label``).
    """
    findings: list[str] = []
    scanned = 0
    for base in paths:
        base = Path(base)
        files = (
            [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()] if base.exists() else []
        )
        for path in files:
            if path.name in skip_names:
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            scanned += 1
            for label, needle in needles.items():
                if needle and needle in data:
                    findings.append(f"{path}: {label}")
            if _BEARER_RE.search(data):
                findings.append(f"{path}: bearer-token-shaped text")
    return scanned, findings


def scan_texts(texts: dict[str, str], needles: dict[str, bytes]) -> list[str]:
    """Like :func:`scan_for_secrets` for in-memory texts (XCom values, captured logs)."""
    out = []
    for name, text in texts.items():
        data = text.encode("utf-8", "replace")
        out.extend(f"{name}: {label}" for label, n in needles.items() if n and n in data)
        if _BEARER_RE.search(data):
            out.append(f"{name}: bearer-token-shaped text")
    return out


def check_sent_once(world: Any, order_ids: Iterable[str], keys: dict[str, str]) -> dict[str, int]:
    """
    Invariant 3 for orders sent over the REST API (no ledger): at most one order at Flex per merchant
    order id, carrying the idempotency key the provider derived for it; ``order_ids`` all present.
    """
    problems = []
    at_flex = sandbox_orders(world)
    for order_id in order_ids:
        got = at_flex.get(order_id, [])
        if len(got) != 1:
            problems.append(f"{order_id}: {len(got)} orders at Flex")
        elif got[0]["idempotency_key"] != keys[order_id]:
            problems.append(f"{order_id}: Flex order has another idempotency key")
    if problems:
        raise InvariantError(problems)
    return {"orders": len(list(order_ids))}
