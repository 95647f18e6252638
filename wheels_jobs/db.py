"""Connecting to PostgreSQL: which URL to use, and driver errors as project errors."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from wheels_jobs.embedded import DEFAULT_DATA_DIR, Cluster
from wheels_jobs.errors import ConfigError, DatabaseUnavailable

CONNECT_TIMEOUT_S = 10


def embedded_cluster() -> Cluster:
    """The project-local cluster (data folder from WHEELS_PGDATA, default .pgdata/)."""
    return Cluster(Path(os.environ.get("WHEELS_PGDATA") or DEFAULT_DATA_DIR))


def resolve_url(url: str | None) -> str:
    """The URL given (--database-url or DATABASE_URL), else the embedded cluster, started on demand."""
    return url or embedded_cluster().ensure_running()


def describe(url: str) -> str:
    """host:port/dbname of a URL, without credentials, for error messages."""
    params = conninfo_to_dict(url)
    host = params.get("host") or "localhost"
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or ''}"


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    return make_conninfo(url, dbname=dbname)


def connect(url: str, *, autocommit: bool = False, **kwargs) -> psycopg.Connection:
    """A connection, or DatabaseUnavailable / ConfigError saying why not in one line."""
    try:
        where = describe(url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError("DATABASE_URL is not a valid PostgreSQL URL or conninfo string") from exc
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S, **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot reach the database at {where}") from exc
