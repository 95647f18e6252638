"""`cli.py dlq`: the dead letters, as the operator sees and replays them.

The replay rule (which letters may go back on the queue under a fresh
idempotency key) is the sender's exactly-once design seen from outside; the
queries of wheels_jobs/dlq.sql apply it in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.rows import dict_row

from wheels_core import db, queries

Q = queries.load("wheels_jobs", "dlq.sql")


def list_letters(url: str, kind: str | None = None, limit: int = 100) -> list[dict]:
    """Newest first: id, intent, kind, recipient, reason, attempts, age, maybe_delivered."""
    with db.connect(url, row_factory=dict_row) as conn:
        return conn.execute(Q["dead_letters"], {"kind": kind, "limit": limit}).fetchall()


def show_letter(url: str, letter_id: int) -> dict | None:
    """One letter with its payload, its intent's delivery and its batch; None when there is none."""
    with db.connect(url, row_factory=dict_row) as conn:
        return conn.execute(Q["dead_letter"], {"id": letter_id}).fetchone()


def replay(url: str, ids: Sequence[int] = (), *, all_: bool = False, kind: str | None = None,
           force: bool = False) -> list[dict]:
    """Re-enqueue letters that never reached the provider (all chosen ones with force), each under
    a fresh batch and key; one row per chosen letter: msg_id when replayed, else kept_because."""
    with db.connect(url, row_factory=dict_row) as conn:
        return conn.execute(Q["replay_dead_letters"],
                            {"ids": list(ids), "all": all_, "kind": kind, "force": force}).fetchall()


def purge(url: str, older_than_s: float) -> int:
    """Delete letters older than older_than_s seconds; how many went."""
    with db.connect(url, row_factory=dict_row) as conn:
        return conn.execute(Q["purge_dead_letters"], {"older_than_s": older_than_s}).fetchone()["purged"]
