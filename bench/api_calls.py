"""
API-calls bench: N /evaluate calls, concurrency 32, against the Flex sandbox subprocess.

ours:     ``FlexApiAsyncHook.evaluate`` (request model validation, cached bearer token, tenacity retry
          wrapper, typed answer parsing), one hook shared by 32 asyncio workers.
baseline: a plain ``httpx.AsyncClient`` loop with the same concurrency and connection limits: one token
          request, then the same JSON bodies posted, the JSON answer decoded.

Both sides run against the same sandbox (fresh order ids per side), alternating in rounds (ours, base,
base, ours, ...) so that load from other work on the machine hits both alike. Run:
``.venv/bin/python bench/api_calls.py --n 10000`` (``--smoke``: 200).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchResult, base_parser, log, report, sandbox_server, size_of

CONCURRENCY = 32
TARGET = 0.8
WARMUP = 64


def evaluate_body(info: dict[str, Any], side: str, i: int) -> dict[str, Any]:
    """One /evaluate body in wire (camelCase) form; unique order id per side and call."""
    from flex_provider.idempotency import idempotency_key

    order_id = f"{side}-{i:07d}"
    return {
        "mid": info["mid"],
        "siteId": info["site_id"],
        "orderId": order_id,
        "isDeclined": True,
        "isMIT": True,
        "isRecurring": True,
        "idempotencyKey": idempotency_key(info["mid"], order_id, "evaluate"),
        "expiryDateUtc": "2026-12-15T00:00:00Z",
        "transaction": {
            "id": f"txn-{side}-{i}",
            "amount": 1999,
            "currency": "USD",
            "timestampUtc": "2026-11-24T10:00:00Z",
            "responseCode": "51",
            "responseDescription": "Insufficient funds",
        },
        "payer": {"id": f"cus-{i}", "email": f"user{i}@example.com"},
        "paymentMethod": {
            "cardNumber": f"tok_{side}_{i}",
            "token": True,
            "cardBinNumber": "411111",
            "cardLast4Digits": "1111",
        },
        "subscription": {
            "subscriptionId": f"sub-{i}",
            "interval": "monthly",
            "price": 1999,
            "currency": "USD",
        },
    }


async def run_pool(n: int, call: Callable[[int], Awaitable[Any]], offset: int = 0) -> dict[str, Any]:
    latencies: list[float] = []
    it = iter(range(offset, offset + n))

    async def worker() -> None:
        for i in it:
            t0 = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    wall = time.perf_counter() - started
    return {"n": n, "wall_s": wall, "client_cpu_s": time.process_time() - cpu, "latencies": latencies}


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over the rounds of one side."""
    n = sum(r["n"] for r in rounds)
    wall = sum(r["wall_s"] for r in rounds)
    latencies = sorted(x for r in rounds for x in r["latencies"])
    return {
        "calls_per_s": n / wall,
        "wall_s": wall,
        "client_cpu_ms_per_call": sum(r["client_cpu_s"] for r in rounds) / n * 1000,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "rounds_calls_per_s": [round(r["n"] / r["wall_s"], 1) for r in rounds],
    }


async def compare(info: dict[str, Any], n: int, rounds: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Alternate ours and the baseline in ``rounds`` rounds (ABBA...), so load drift hits both alike."""
    import httpx

    from flex_provider.hooks.api import FlexApiAsyncHook, FlexConnectionSettings

    settings = FlexConnectionSettings(
        base_url=info["api_url"].rstrip("/"),
        app_key=info["app_key"],
        app_secret=info["app_secret"],
        mid=info["mid"],
        site_id=info["site_id"],
    )
    # The hook's own retry policy (defaults) stays on: a pooled connection the sandbox closed while the
    # other side's round ran is retried, as in production. The baseline retries such errors too.
    hook = FlexApiAsyncHook(settings=settings)
    ours_bodies = [evaluate_body(info, "ours", i) for i in range(n + WARMUP)]
    base_bodies = [evaluate_body(info, "base", i) for i in range(n + WARMUP)]
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with hook, httpx.AsyncClient(base_url=settings.base_url, limits=limits, timeout=30) as client:
        resp = await client.post(
            "/oauth2/token", json={"AppKey": info["app_key"], "AppSecret": info["app_secret"]}
        )
        resp.raise_for_status()
        headers = {"Authorization": f"Bearer {resp.json()['accessToken']}", "Accept": "application/json"}

        async def plain(i: int) -> Any:
            for attempt in range(3):
                try:
                    r = await client.post("/evaluate", json=base_bodies[i], headers=headers)
                    break
                except httpx.TransportError:
                    if attempt == 2:
                        raise
            r.raise_for_status()
            return r.json()

        async def ours_call(i: int) -> Any:
            return await hook.evaluate(ours_bodies[i])

        await run_pool(WARMUP, ours_call)
        await run_pool(WARMUP, plain)
        per_round = max(1, n // rounds)
        ours_rounds: list[dict[str, Any]] = []
        base_rounds: list[dict[str, Any]] = []
        done = 0
        for r in range(rounds):
            size = per_round if r < rounds - 1 else n - done
            order = [("ours", ours_call), ("base", plain)]
            if r % 2:
                order.reverse()
            for side, fn in order:
                figures = await run_pool(size, fn, WARMUP + done)
                (ours_rounds if side == "ours" else base_rounds).append(figures)
            done += size
    return summarize(ours_rounds), summarize(base_rounds)


def main() -> int:
    args = base_parser("API-calls bench (evaluate through FlexApiAsyncHook)", 10_000, 200, "--n").parse_args()
    n = size_of(args)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    rounds = 2 if args.smoke else 4
    with sandbox_server() as info:
        o, b = asyncio.run(compare(info, n, rounds))
    log(f"api ours: {o}")
    log(f"api baseline: {b}")
    report(
        [
            BenchResult(
                bench="api_calls",
                size=f"{n} evaluate calls, concurrency {CONCURRENCY}",
                ours=o["calls_per_s"],
                baseline=b["calls_per_s"],
                unit="calls/s",
                target=TARGET,
                higher_is_better=True,
                extra={"ours": o, "baseline": b},
            )
        ],
        args.json_out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
