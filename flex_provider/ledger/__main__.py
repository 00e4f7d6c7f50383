"""
``python -m flex_provider.ledger replay``: re-fold and re-project stored events from the command line.

    python -m flex_provider.ledger replay --ledger-url postgresql+psycopg2://postgres@127.0.0.1/flex \
        --merchant-url postgresql+psycopg2://postgres@127.0.0.1/merchant --from 2026-11-01 --to 2026-11-03
    python -m flex_provider.ledger replay ... --order-id ord-123 --order-id ord-456
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    help="The Flex ledger: replay stored events into the merchant's books.", no_args_is_help=True
)
DEFAULT_SQL = Path(__file__).resolve().parents[2] / "dags" / "sql" / "project_orders.sql"


@app.callback()
def main() -> None:
    """Ledger commands."""


@app.command()
def replay(
    ledger_url: Annotated[str, typer.Option(help="SQLAlchemy URL of the ledger")],
    merchant_url: Annotated[str, typer.Option(help="SQLAlchemy URL of the merchant database")],
    date_from: Annotated[str | None, typer.Option("--from", help="first business date (YYYY-MM-DD)")] = None,
    date_to: Annotated[Optional[str], typer.Option("--to", help="last business date (YYYY-MM-DD)")] = None,  # noqa: UP045
    order_id: Annotated[Optional[list[str]], typer.Option(help="an order id (repeatable)")] = None,  # noqa: UP045
    mid: Annotated[Optional[str], typer.Option(help="only this merchant id")] = None,  # noqa: UP045
    sql: Annotated[Path, typer.Option(help="the projection SQL file")] = DEFAULT_SQL,
) -> None:
    """Re-fold the chosen orders' events and re-project them; prints a JSON summary."""
    from sqlalchemy import create_engine

    from flex_provider.ledger import FlexLedger
    from flex_provider.ledger.replay import replay as run_replay
    from flex_provider.operators.common import read_sql

    if not order_id and not date_from and not date_to:
        raise typer.BadParameter("give --from/--to or --order-id")
    ledger = FlexLedger.from_url(ledger_url)
    merchant = create_engine(merchant_url)
    try:
        out = run_replay(
            ledger,
            merchant,
            read_sql(str(sql)),
            mid=mid,
            date_from=date.fromisoformat(date_from) if date_from else None,
            date_to=date.fromisoformat(date_to) if date_to else None,
            order_ids=order_id or None,
        )
    finally:
        ledger.engine.dispose()
        merchant.dispose()
    typer.echo(json.dumps(out))


if __name__ == "__main__":
    app()
