"""
One engine factory for the provider's SQL databases (ledger, merchant DB, webhook store).

``sql_engine`` takes an Airflow connection id or a SQLAlchemy URL. A connection's extra
``sqlalchemy_url`` wins over its fields; ``sqlite`` (host or schema = the file, or a ``sqlite:`` URL) and
``postgres`` (psycopg2, ``sslmode``/``sslrootcert``/``sslcert``/``sslkey`` extras) need no provider
package; any other SQL connection goes through its hook's engine. Every engine checks a pooled
connection before use (``pool_pre_ping``), so a database restart between two tasks costs no failed task.
SQLAlchemy and Airflow are imported on first use, so importing this module costs a DAG file nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = ["is_url", "sql_engine", "url_from_connection"]


def is_url(source: str | URL) -> bool:
    """True for a SQLAlchemy URL (``dialect://...``, ``sqlite:...``); an Airflow connection id has no colon."""
    return not isinstance(source, str) or ":" in source


def url_from_connection(conn: Any) -> URL | str | None:
    """SQLAlchemy URL of an Airflow connection (extra ``sqlalchemy_url``, sqlite, postgres), else None."""
    extra = getattr(conn, "extra_dejson", None) or {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    conn_type = (conn.conn_type or "").lower()
    if conn_type == "sqlite":
        path = conn.host or conn.schema or ""
        if path.startswith("sqlite:"):
            return path
        return f"sqlite:///{path}" if path else "sqlite://"
    if conn_type in ("postgres", "postgresql"):
        from sqlalchemy.engine import URL

        query = {k: str(extra[k]) for k in ("sslmode", "sslrootcert", "sslcert", "sslkey") if extra.get(k)}
        return URL.create(
            "postgresql+psycopg2",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
            query=query,
        )
    return None


def sql_engine(source: str | URL, **engine_kwargs: Any) -> Engine:
    """An engine for an Airflow connection id or a SQLAlchemy URL; ``engine_kwargs`` go to ``create_engine``."""
    from sqlalchemy import create_engine

    kwargs = {"pool_pre_ping": True, **engine_kwargs}
    if is_url(source):
        return create_engine(source, **kwargs)
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(str(source))
    url = url_from_connection(conn)
    if url is not None:
        return create_engine(url, **kwargs)
    get_engine = getattr(conn.get_hook(), "get_sqlalchemy_engine", None)
    if get_engine is None:
        raise ValueError(f"Connection {source!r} ({conn.conn_type}) is not a SQL connection")
    return get_engine(engine_kwargs=kwargs)
