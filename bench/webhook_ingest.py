"""
Webhook-ingest bench: signed Flex events/s and p99 latency, 32 concurrent senders, PostgreSQL store.

ours:     the real receiver app (``create_app``) under uvicorn: signature + date window, nonce replay
          check, dedupe, order state, one transaction per delivery.
baseline: a bare FastAPI endpoint under the same uvicorn options doing the same event-row insert into the
          same table, no verification.

Both servers run side by side and are driven in alternating rounds (ours, bare, bare, ours), so load from
other work on the machine hits both alike. The senders are one asyncio process with 32 workers on one ``httpx.AsyncClient``; every request is
signed before the clock starts (same bodies and headers for both servers), so the client's CPU cost is
the same on both sides. Each server gets a fresh database. Run:
``.venv/bin/python bench/webhook_ingest.py --n 20000`` (``--smoke``: 300).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PY,
    REPO,
    BenchResult,
    base_parser,
    free_port,
    fresh_database,
    log,
    report,
    size_of,
    stop_process,
    wait_port,
)

CONCURRENCY = 32
TARGET = 0.7
WARMUP = 50


def make_requests(n: int, key: str, host: str) -> list[tuple[bytes, dict[str, str]]]:
    """N distinct signed deliveries (order.completed, unique OrderId/TimeStamp)."""
    from flex_provider.webhooks.signature import sign_request

    out = []
    for i in range(n):
        body = json.dumps(
            {
                "Event": "order.completed",
                "TimeStamp": f"2026-11-30T08:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}000Z",
                "OrderId": f"osk-{i:08d}-{secrets.token_hex(4)}",
                "ExternalOrderId": f"ord_{i}_2026-11",
                "ConfirmationId": f"C{i:09d}",
                "IsTestMode": True,
                "IsResent": False,
                "Amount": 1999,
                "Currency": "USD",
                "EventData": None,
            },
            separators=(",", ":"),
        ).encode()
        headers = sign_request(body, key, host)
        headers["content-type"] = "application/json"
        out.append((body, headers))
    return out


async def blast(
    url: str, requests: list[tuple[bytes, dict[str, str]]], key: str, host: str
) -> dict[str, Any]:
    """Send every request with CONCURRENCY workers; return throughput and latency figures."""
    import httpx

    from flex_provider.webhooks.signature import sign_request

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    retries = 0
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        it = iter(requests)

        async def worker() -> None:
            nonlocal retries
            for body, headers in it:
                t0 = time.perf_counter()
                for attempt in range(3):
                    try:
                        resp = await client.post(url, content=body, headers=headers)
                        break
                    except httpx.TransportError:  # a dropped keep-alive connection; counted, resent
                        if attempt == 2:
                            raise
                        retries += 1
                        headers = {**sign_request(body, key, host), "content-type": "application/json"}
                latencies.append(time.perf_counter() - t0)
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        wall = time.perf_counter() - started
    return {
        "n": len(requests),
        "wall_s": wall,
        "latencies": latencies,
        "statuses": statuses,
        "retries": retries,
    }


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    n = sum(r["n"] for r in rounds)
    wall = sum(r["wall_s"] for r in rounds)
    latencies = sorted(x for r in rounds for x in r["latencies"])
    statuses: dict[int, int] = {}
    for r in rounds:
        for code, count in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    return {
        "events_per_s": n / wall,
        "wall_s": wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "statuses": statuses,
        "retries": sum(r["retries"] for r in rounds),
        "rounds_events_per_s": [round(r["n"] / r["wall_s"], 1) for r in rounds],
    }


@contextlib.contextmanager
def server(kind: str, key: str) -> Iterator[tuple[str, str, Any]]:
    """One server subprocess on its own fresh database: yields (url, host, db)."""
    with fresh_database(f"flex_bench_wh_{kind}") as db:
        port = free_port()
        cmd = [PY, str(REPO / "bench" / "_webhook_servers.py"), kind, "--port", str(port), "--db-url", db.url]
        proc = subprocess.Popen([*cmd, "--key", key], cwd=str(REPO))
        try:
            wait_port(port, timeout=60, proc=proc)
            yield f"http://127.0.0.1:{port}/flex/webhooks", f"127.0.0.1:{port}", db
        finally:
            stop_process(proc)


def stored(db: Any) -> int:
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM flex_webhook_events")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def compare(n: int, key: str, rounds: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both servers up; alternate them in rounds (ours, bare, bare, ours, ...)."""
    with server("ours", key) as ours_srv, server("bare", key) as bare_srv:
        sides = {"ours": ours_srv, "bare": bare_srv}
        for url, host, _db in sides.values():  # tables created, pools filled
            asyncio.run(blast(url, make_requests(WARMUP, key, host), key, host))
        results: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": []}
        per_round = max(1, n // rounds)
        done = 0
        for r in range(rounds):
            size = per_round if r < rounds - 1 else n - done
            order = ["ours", "bare"] if r % 2 == 0 else ["bare", "ours"]
            for side in order:
                url, host, _db = sides[side]
                results[side].append(asyncio.run(blast(url, make_requests(size, key, host), key, host)))
            done += size
        out = {}
        for side, (_url, _host, db) in sides.items():
            figures = summarize(results[side])
            figures["stored"] = stored(db) - WARMUP
            ok = figures["statuses"].get(200, 0)
            if ok != n or figures["stored"] != n:
                raise RuntimeError(
                    f"{side}: {ok} of {n} answered 200, {figures['stored']} stored: {figures['statuses']}"
                )
            out[side] = figures
    return out["ours"], out["bare"]


def main() -> int:
    args = base_parser(
        "Webhook ingest bench (signed events through the receiver)", 20_000, 300, "--n"
    ).parse_args()
    n = size_of(args)
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    ours, base = compare(n, key, 2 if args.smoke else 4)
    log(f"webhook ours: {ours}")
    log(f"webhook bare: {base}")
    report(
        [
            BenchResult(
                bench="webhook_ingest",
                size=f"{n} events, {CONCURRENCY} senders",
                ours=ours["events_per_s"],
                baseline=base["events_per_s"],
                unit="ev/s",
                target=TARGET,
                higher_is_better=True,
                extra={
                    "ours_p99_ms": round(ours["p99_ms"], 1),
                    "baseline_p99_ms": round(base["p99_ms"], 1),
                    "ours_p50_ms": round(ours["p50_ms"], 1),
                    "baseline_p50_ms": round(base["p50_ms"], 1),
                },
            )
        ],
        args.json_out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
