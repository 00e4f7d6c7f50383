"""``same_database``: the reconcile stages ledger rows server-side only when both engines reach one database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine

from flex_provider.merchant.db import same_database


def test_same_postgres_database_through_different_drivers() -> None:
    a = create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/merchant")
    b = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/merchant")
    assert same_database(a, b)


def test_other_database_host_or_dialect_is_not_the_same(tmp_path: Path) -> None:
    base = create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/merchant")
    assert not same_database(base, create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/ledger"))
    assert not same_database(base, create_engine("postgresql+psycopg2://postgres@10.0.0.9:5432/merchant"))
    assert not same_database(base, create_engine(f"sqlite:///{tmp_path / 'merchant'}"))


def test_in_memory_sqlite_databases_are_never_shared() -> None:
    assert not same_database(create_engine("sqlite://"), create_engine("sqlite://"))
