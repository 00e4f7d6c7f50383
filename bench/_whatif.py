"""
"What if" patches for the benches: fixes proposed to the owners of other modules, applied in the bench
process only when ``FLEX_BENCH_WHATIF=1``, so a run can show the figure a fix would give before the
owner lands it. Never imported by the provider.

Nothing is pending: both COPY fixes measured here have landed (``flex_provider.merchant.db.stage_rows``
and ``FlexLedger._stage`` now share ``flex_provider.batch.ledger.copy_rows``: psycopg 3 ``cursor.copy``
or psycopg2 ``copy_expert``), so ``apply()`` installs nothing. Add the next proposal here the same way:
keep the original in ``_ORIGINAL``, patch in ``apply()``, return the patch names.
"""

from __future__ import annotations

import os
from typing import Any

_ORIGINAL: dict[str, Any] = {}


def apply() -> list[str]:
    """Install the pending patches when FLEX_BENCH_WHATIF=1; return the names of those installed."""
    if os.environ.get("FLEX_BENCH_WHATIF") != "1":
        return []
    return []
