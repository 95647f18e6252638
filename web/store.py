"""The web service's database: the only module that runs its SQL (web/queries.sql).

A small connection pool, because requests are handled on several threads at
once. In production the URL is one for the wheels_web role (sql/0003_web.sql).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from wheels_core import db

from wheels_core.errors import DatabaseUnavailable, WheelsError
from wheels_core.queries import load

log = logging.getLogger(__name__)
Q = load("web")

POOL_MAX_SIZE = 4
# How long a request waits for a connection before it answers 503.
POOL_TIMEOUT_S = 5.0
# /healthz waits less: a health checker gives up after a few seconds.
HEALTH_TIMEOUT_S = 2.0


class WebStoreError(WheelsError):
    """The database refused a web service statement."""


class UnknownUser(WebStoreError):
    """A genuine token names a user that no longer exists."""


@dataclass(frozen=True)
class Event:
    """One verified Resend webhook event, as record_event stores it."""

    svix_id: str
    type: str
    provider_message_id: str | None
    recipients: list[str]
    occurred_at: datetime | None
    payload: dict
    # Set when the event means: never mail these recipients again.
    suppress_reason: str | None


class Store:
    def __init__(self, url: str, *, timeout_s: float = POOL_TIMEOUT_S) -> None:
        self.url = url
        self.pool = ConnectionPool(url, min_size=1, max_size=POOL_MAX_SIZE, open=False, timeout=timeout_s,
                                   kwargs={"row_factory": dict_row, "connect_timeout": db.CONNECT_TIMEOUT_S},
                                   check=ConnectionPool.check_connection, name="web")

    def open(self) -> None:
        """Start connecting in the background; requests wait for a connection (503 after timeout_s)."""
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def _transaction(self, timeout_s: float | None = None) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction (waiting up to timeout_s, default the pool's);
        driver errors as project errors."""
        try:
            with self.pool.connection(timeout=timeout_s) as conn:
                yield conn
        except PoolTimeout as exc:
            raise DatabaseUnavailable(f"no database connection to {db.describe(self.url)}") from exc
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"lost the connection to {db.describe(self.url)}") from exc
        except psycopg.Error as exc:
            raise WebStoreError(type(exc).__name__) from exc

    def email_kinds(self) -> list[tuple[str, str | None]]:
        """wheels.email_kinds' (kind, preference_kind) rows, on a connection of its own (before the
        pool opens); DatabaseUnavailable when the database does not answer."""
        with db.connect(self.url) as conn:
            return [tuple(row) for row in conn.execute(Q["email_kinds"]).fetchall()]

    def ping(self) -> None:
        """Return when the database answers a query within HEALTH_TIMEOUT_S (or the pool's shorter
        timeout); DatabaseUnavailable or WebStoreError otherwise."""
        with self._transaction(min(HEALTH_TIMEOUT_S, self.pool.timeout)) as conn:
            conn.execute(Q["health"])

    def preferences(self, user_id: str, kinds: Sequence[str]) -> dict[str, bool]:
        """{kind: enabled} for `kinds`, in that order, as the app's settings say; UnknownUser when the
        source has no such user."""
        with self._transaction() as conn:
            rows = conn.execute(Q["preferences"], {"user_id": user_id}).fetchall()
        if not rows:
            raise UnknownUser("the user of this token does not exist")
        enabled = {r["preference_kind"]: r["enabled"] for r in rows}
        return {kind: enabled[kind] for kind in kinds}

    def save_preferences(self, user_id: str, switches: dict[str, bool]) -> None:
        """Set the given switches in the app's own settings; UnknownUser when the user is gone."""
        with self._transaction() as conn:
            known = conn.execute(Q["save_preferences"], {"user_id": user_id, "kinds": list(switches),
                                                         "enabled": list(switches.values())}).fetchone()["known"]
        if not known:
            raise UnknownUser("the user of this token does not exist")

    def record_event(self, event: Event) -> dict:
        """{recorded: 0|1, suppressed: n}; a redelivered svix_id records and suppresses nothing."""
        with self._transaction() as conn:
            return conn.execute(Q["record_event"], {
                "svix_id": event.svix_id, "type": event.type, "provider_message_id": event.provider_message_id,
                "recipients": event.recipients, "occurred_at": event.occurred_at, "payload": Jsonb(event.payload),
                "suppress_reason": event.suppress_reason,
            }).fetchone()

    def dashboard(self) -> dict:
        """The /dashboard figures: success metrics, engagement, rollups, email and queue counts and job
        health (no personal data)."""
        with self._transaction() as conn:
            figures = {name: conn.execute(Q[f"dashboard_{name}"]).fetchall()
                       for name in ("success", "engagement", "hours", "days", "emails", "suppressions", "jobs")}
            figures["queue"] = conn.execute(Q["dashboard_queue"]).fetchone()
        return figures
