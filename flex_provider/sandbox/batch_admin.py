"""The batch side's admin API (``/_sandbox/sftp``): status, fault switches, process now, host key rotation."""

from __future__ import annotations

import asyncio
from typing import Any

from flex_provider.sandbox.batches import BatchProcessor
from flex_provider.sandbox.sftp_server import SFTPServerControl


def admin_router(processor: BatchProcessor, server_ctl: SFTPServerControl | None = None) -> Any:
    """FastAPI router for ``/_sandbox/sftp``: status, faults, process-now, host key rotation."""
    from fastapi import APIRouter, HTTPException

    ctl = server_ctl or processor.control
    router = APIRouter()

    @router.get("/status")
    def status() -> dict[str, Any]:
        return processor.status()

    @router.post("/faults")
    def set_faults(body: dict[str, Any]) -> dict[str, Any]:
        unknown = set(body) - {"slow_results", "cut_session_after_bytes", "paused", "refuse_orders"}
        if unknown:
            raise HTTPException(422, f"unknown fault(s): {sorted(unknown)}")
        if "slow_results" in body:
            processor.slow_results = float(body["slow_results"] or 0)
        if "paused" in body:
            processor.paused = bool(body["paused"])
        if "refuse_orders" in body:
            processor.refuse_orders = {str(o) for o in body["refuse_orders"] or ()}
        if "cut_session_after_bytes" in body:
            v = body["cut_session_after_bytes"]
            ctl.cut_session_after_bytes = None if v is None else int(v)
        return processor.status()

    @router.post("/faults/reset")
    def reset_faults() -> dict[str, Any]:
        processor.slow_results = 0.0
        processor.paused = False
        processor.refuse_orders = set()
        ctl.cut_session_after_bytes = None
        return processor.status()

    @router.post("/process")
    async def process_now() -> dict[str, Any]:
        acks = await asyncio.to_thread(processor.process_pending)
        acks += await asyncio.to_thread(processor.process_pending)  # 2nd poll: files only size-stable
        return {"acks": acks, "results": await processor.flush_results_async()}

    @router.post("/host-key/rotate")
    def rotate_host_key() -> dict[str, str]:
        return {"sftp_host_key": ctl.rotate_host_key()}

    return router
