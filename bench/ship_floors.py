"""
The floors of the ship bench: what the rows we shipped cost in one part of the work alone, on the same
PostgreSQL, after ours has run. Ours does at least that part, whatever overlaps it, so each bounds how
close ours can get to the shell pipeline.

* :func:`model_floor`: pydantic validating the shipped rows (the per-row path of the REST operators);
* :func:`ledger_floor`: the provider's own ledger record + mark of those rows;
* :func:`sql_floor`: the ledger writes the design needs for them as SQL statements alone: the ``shipped``
  events and their fold (``design``), or the least any ledger of events + state writes (``minimal``:
  primary-key-only events and a four-column state insert).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import PgDatabase, timed
from bench.sql_floor import run_floor

#: The shipped rows, staged in a temp table (a COPY: what the ledger's own record does first).
_STAGE_SQL = (
    "CREATE TEMP TABLE tmp_shipped (file_name text, order_id text, sequence_number integer, "
    "idempotency_key text, expiry_date_utc timestamptz) ON COMMIT DROP"
)
#: The ``shipped`` events ``flex_provider.ledger.shipped.append_shipped`` writes for those rows.
_EVENTS_SQL = """
INSERT INTO flex_order_events (mid, order_id, kind, event_key, status, flex_time, detail, business_date,
                               file_name, expiry_at, sort_key, recorded_at)
SELECT :mid, t.order_id, 'shipped', t.file_name || ':' || t.sequence_number, 'SHIPPED', :sent_at,
       t.idempotency_key, :day, t.file_name, t.expiry_date_utc, :sort_key, now()
FROM tmp_shipped t ORDER BY t.file_name, t.sequence_number
"""
_MINIMAL_STATE_SQL = (
    "INSERT INTO flex_order_state (mid, order_id, status, seq, refunded_minor) "
    "SELECT mid, order_id, status, id, 0 FROM flex_order_events WHERE id > :before"
)


def model_floor(out_dir: Path) -> dict[str, Any]:
    """
    Wall time of pydantic alone validating the rows we shipped (one ``list[EvaluateRequest]`` per file).
    The column path no longer calls the model per row; the REST operators' path still does.
    """
    from pydantic import TypeAdapter

    from flex_provider.models.api import EvaluateRequest

    adapter = TypeAdapter(list[EvaluateRequest])
    files = sorted(out_dir.glob("evaluate_*.json"))
    arrays = []
    rows = 0
    for path in files:
        lines = path.read_bytes().split(b"\n")
        body = [ln.rstrip(b",") for ln in lines[1:] if ln and ln not in (b"]}", b"]")]
        rows += len(body)
        arrays.append(b"[" + b",".join(body) + b"]")
    with timed() as t:
        for data in arrays:
            adapter.validate_json(data)
    return {"model_validate_s": t(), "rows": rows, "files": len(files)}


def _shipped(out_dir: Path) -> tuple[Any, list[Any]]:
    """The manifest ours wrote and, per file, its ledger rows as a polars frame."""
    import polars as pl

    from flex_provider.batch.manifest import read_ledger_rows, read_manifest

    manifest = read_manifest(next(out_dir.glob("manifest_*.json")))
    frames = []
    for entry in manifest.files:
        rows = read_ledger_rows(out_dir / entry.name, entry.sha256) or []
        frames.append(
            pl.DataFrame(
                {
                    "file_name": [entry.name] * len(rows),
                    "order_id": [r["order_id"] for r in rows],
                    "sequence_number": [int(r["sequence_number"]) for r in rows],
                    "idempotency_key": [r["idempotency_key"] for r in rows],
                    "expiry_date_utc": [
                        r["expiry_date_utc"].isoformat() if r["expiry_date_utc"] else None for r in rows
                    ],
                },
                schema_overrides={"sequence_number": pl.Int32},
            )
        )
    return manifest, frames


def _empty_ledger(db: PgDatabase) -> None:
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("TRUNCATE flex_batch_rows, flex_batch_files, flex_order_events, flex_order_state")
        conn.commit()
    finally:
        conn.close()


def ledger_floor(db: PgDatabase, out_dir: Path) -> dict[str, Any]:
    """
    Wall time of the ledger's own work for the rows we shipped, alone and one transaction after another:
    ``record_files`` (files + rows, one COPY, 25 files a transaction) then ``mark_uploaded_many`` (the
    upload marks + every row's ``shipped`` event + the fold), on an emptied ledger.
    """
    import polars as pl

    from flex_provider.ledger import FlexLedger
    from flex_provider.ledger.files import FileRecord, UploadMark

    manifest, frames = _shipped(out_dir)
    _empty_ledger(db)
    ledger = FlexLedger.from_url(db.url.replace("+psycopg2", "+psycopg"))
    ledger._ensure()
    day, files = manifest.business_date, manifest.files
    with timed() as rec:
        for k in range(0, len(files), 25):
            part = files[k : k + 25]
            records = [
                FileRecord(e.name, day, "evaluate", manifest.mid, e.rows, e.sha256, e.rows_sha256)
                for e in part
            ]
            ledger.record_files(records, pl.concat(frames[k : k + 25]))
    with timed() as mark:
        for k in range(0, len(files), 25):
            ledger.mark_uploaded_many([UploadMark(e.name, 1, None) for e in files[k : k + 25]])
    ledger.engine.dispose()
    return {"record_s": rec(), "mark_s": mark(), "ledger_s": rec() + mark(), "files": len(files)}


def sql_floor(db: PgDatabase, out_dir: Path, *, minimal: bool) -> dict[str, Any]:
    """
    The ledger writes of the rows we shipped as SQL alone, in one transaction on an emptied ledger: the
    rows COPied into a temp table, their ``shipped`` events, and the provider's fold into new states
    (``minimal``: primary-key-only events and a four-column state insert, ``bench/sql_floor.py``). No
    registry rows, no files, no Python between the statements.
    """
    import io

    import polars as pl
    from sqlalchemy import text

    from flex_provider.ledger.events import sort_key_for
    from flex_provider.ledger.state import fold
    from flex_provider.utc import utc_now

    manifest, frames = _shipped(out_dir)
    _empty_ledger(db)
    csv = io.StringIO(pl.concat(frames).write_csv(include_header=False))
    sent_at = utc_now()
    params = {
        "mid": manifest.mid,
        "sent_at": sent_at,
        "day": manifest.business_date,
        "sort_key": sort_key_for("shipped", "SHIPPED", sent_at, ""),
    }

    def stage(cur: Any) -> None:
        cur.execute(_STAGE_SQL)
        cur.copy_expert("COPY tmp_shipped FROM STDIN WITH (FORMAT csv)", csv)

    def state(conn: Any, before: int) -> None:
        if minimal:
            conn.execute(text(_MINIMAL_STATE_SQL), {"before": before})
        else:
            fold(conn, after_id=before)

    return run_floor(
        db.url,
        stage=stage,
        steps=[("events_s", lambda conn, _: conn.execute(text(_EVENTS_SQL), params)), ("state_s", state)],
        check=lambda conn: {
            "states": conn.execute(text("SELECT count(*) FROM flex_order_state")).scalar_one()
        },
        minimal=minimal,
    )
