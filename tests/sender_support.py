"""Helpers for the sender tests: enqueue intents the way the jobs do (a ledger
row + a docs/INTENTS.md-shaped message, one transaction), run `sender drain`
in-process or as a real process, and read back what happened."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from wheels_jobs.embedded import PROJECT_ROOT

BUDGET_DATA = {"category": "Fuel", "month": "2026-11", "spent": 412.5, "limit": 500.0, "percent": 82.5}

ENQUEUE_WELCOMES = """
WITH ledger AS (
    INSERT INTO wheels.email_ledger (kind, subject, period, recipient)
    SELECT 'welcome', %(prefix)s || g, '', %(prefix)s || g || '@example.com'
    FROM generate_series(1, %(n)s) AS g
    RETURNING id, recipient
)
SELECT pgmq.send_batch('email_intents', array_agg(jsonb_build_object(
    'v', 1, 'kind', 'welcome', 'intent_id', id, 'user_id', NULL, 'to', recipient,
    'name', 'User ' || id, 'data', '{}'::jsonb) ORDER BY id)) AS msg_id
FROM ledger
"""


def enqueue_welcomes(url: str, n: int, prefix: str = "user") -> list[int]:
    """n welcome intents (ledger rows + messages) in one transaction; their intent ids."""
    with psycopg.connect(url) as conn:
        conn.execute(ENQUEUE_WELCOMES, {"n": n, "prefix": prefix})
        return [r[0] for r in conn.execute(
            "SELECT id FROM wheels.email_ledger WHERE starts_with(subject, %s) ORDER BY id", [prefix])]


def enqueue(url: str, kind: str = "welcome", to: str = "ana@example.com", *, user_id: str | None = None,
            name: str | None = "Ana", data: dict | None = None, subject: str | None = None) -> int:
    """One intent as the jobs enqueue it; its intent id."""
    with psycopg.connect(url) as conn:
        intent_id = conn.execute(
            "INSERT INTO wheels.email_ledger (kind, subject, period, user_id, recipient) "
            "VALUES (%s, %s, '', %s, %s) RETURNING id",
            [kind, subject or f"{kind}:{to}:{time.monotonic_ns()}", user_id, to]).fetchone()[0]
        send_raw(conn, {"v": 1, "kind": kind, "intent_id": intent_id, "user_id": user_id, "to": to,
                        "name": name, "data": data if data is not None else {}})
    return intent_id


def send_raw(conn_or_url, message: object) -> int:
    """pgmq.send any JSON value (malformed intents included); its msg_id."""
    if isinstance(conn_or_url, str):
        with psycopg.connect(conn_or_url) as conn:
            return send_raw(conn, message)
    return conn_or_url.execute("SELECT pgmq.send('email_intents', %s) AS id", [Jsonb(message)]).fetchone()[0]


def send_json_text(url: str, text: str) -> int:
    """pgmq.send a message given as JSON text (what Python's json module cannot build: 1,000 levels deep)."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT pgmq.send('email_intents', %s::jsonb) AS id", [text]).fetchone()[0]


def sender_backend(url: str) -> dict | None:
    """The running `sender drain` session (pg_stat_activity: pid, state, wait_event_type), if one is connected."""
    found = rows(url, "SELECT pid, state, wait_event_type FROM pg_stat_activity "
                      "WHERE application_name = 'wheels-sender' AND datname = current_database()")
    return found[0] if found else None


@contextmanager
def logged_in_as(url: str, role: str) -> Iterator[str]:
    """`url`, connecting as one of our NOLOGIN roles; roles are cluster-wide, so LOGIN only meanwhile."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        yield make_conninfo(url, user=role)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))


def profile(url: str, email: str, name: str = "Ana") -> str:
    """A user, without the welcome intent that inserting it enqueues (the profiles trigger of
    demo source), so the queue holds only the intents a test enqueues itself."""
    with psycopg.connect(url) as conn:
        user_id = str(conn.execute("INSERT INTO profiles (email, full_name) VALUES (%s, %s) RETURNING id",
                                   [email, name]).fetchone()[0])
        conn.execute("DELETE FROM pgmq.q_email_intents WHERE message ->> 'kind' = 'welcome' "
                     "AND message ->> 'user_id' = %s", [user_id])
        conn.execute("DELETE FROM wheels.email_ledger WHERE kind = 'welcome' AND subject = %s", [user_id])
        return user_id


def rows(url: str, query: str, params=None) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def queue_length(url: str) -> int:
    return rows(url, "SELECT count(*) AS n FROM pgmq.q_email_intents")[0]["n"]


def deliveries(url: str) -> dict[int, dict]:
    return {r["intent_id"]: r for r in rows(url, "SELECT * FROM wheels.deliveries")}


def dead_letters(url: str) -> list[dict]:
    return rows(url, "SELECT * FROM wheels.dead_letters ORDER BY id")


def sender_env(url: str, stub=None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RESEND_API_KEY", "RESEND_API_URL", "DATABASE_URL")}
    env.update({"DATABASE_URL": url, "UNSUBSCRIBE_SECRET": "test-secret", "PYTHONUNBUFFERED": "1"})
    if stub is not None:
        env.update({"RESEND_API_KEY": stub.api_key, "RESEND_API_URL": stub.url})
    env.update(extra)
    return env


def sender_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "sender.cli", "drain", *args]


def start_sender(url: str, *args: str, stub=None, stderr=None, **env: str) -> subprocess.Popen:
    """A real `sender drain` process."""
    return subprocess.Popen(sender_argv(*args), env=sender_env(url, stub, **env), cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=stderr if stderr is not None else subprocess.PIPE,
                            text=True)


def run_sender(url: str, *args: str, stub=None, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    """`sender drain ARGS` to completion."""
    return subprocess.run(sender_argv(*args), env=sender_env(url, stub, **env), cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=timeout)


def accepted_intents(stub) -> list[int]:
    return sorted(a.intent_id for a in stub.accepted)


def wait_for(predicate, timeout_s: float = 30, interval_s: float = 0.1):
    """Poll until predicate() is truthy (its value) or fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)
