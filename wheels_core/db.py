"""Connecting to PostgreSQL, and driver errors as project errors.

Processes (sender, web) need a URL; only the operator app (wheels_jobs) falls
back to the embedded cluster when none is given.
"""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from wheels_core.errors import ConfigError, DatabaseUnavailable

CONNECT_TIMEOUT_S = 10


def require_url(url: str | None, process: str) -> str:
    """The URL given (--database-url or DATABASE_URL), or a ConfigError saying the process needs one."""
    if not url:
        raise ConfigError(f"{process} needs a database: set DATABASE_URL or pass --database-url")
    return url


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
