"""The sender's only door to PostgreSQL: every query (pgmq calls included) is
a named query of sender/queries.sql, and driver errors leave this module as
DatabaseUnavailable (connection lost: reconnect and carry on), DatabaseBusy (a
statement failed for a passing reason: back off and carry on), ConfigError (the
database refused the sender for good) or StoreError (anything else).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import select
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.json import Json

from sender.render import MAX_INTENT_BYTES, Email
from wheels_core import db, queries
from wheels_core.errors import ConfigError, DatabaseUnavailable, WheelsError

Q = queries.load("sender")

# Advisory-lock class id of send batches (the two-int form, so it cannot
# collide with migrate's single-bigint lock).
BATCH_LOCK_SPACE = 4004
# Resend keeps idempotency keys 24 h; an hour of margin for clocks and slow retries.
KEY_MEMORY_H = 23
# Every statement of the sender is short; one that waits this long for a lock,
# or runs this long, is cancelled and retried later (DatabaseBusy) rather than
# holding the loop. Options in DATABASE_URL come after these, so they win.
STATEMENT_TIMEOUT_S = 30
LOCK_TIMEOUT_S = 5
# How the sender's sessions show in pg_stat_activity (unless the URL names them).
APPLICATION_NAME = "wheels-sender"

# SQLSTATEs that end the session (admin shutdown, crash shutdown, cannot connect
# now; class 08 too): the loop reconnects.
LOST_SQLSTATES = ("57P01", "57P02", "57P03")
# SQLSTATEs of a statement that failed for a passing reason; the connection is fine.
TRANSIENT_SQLSTATES = {
    "40001": "serialization failure",
    "40P01": "deadlock",
    "55P03": "lock timeout",
    "57014": "statement timeout or cancel",
}
# What PostgreSQL (in English) and libpq say when the database answered and refused
# the sender for a reason that waiting will not fix: credentials, role, database
# name, pg_hba.conf, a bad option. Anything else (refused or timed-out connections,
# "the database system is starting up", "too many clients") is waited out.
_REFUSED_FOR_GOOD = re.compile(
    r'authentication failed|no pg_hba\.conf entry|pg_hba\.conf rejects|role ".*" does not exist|'
    r'is not permitted to log in|database ".*" does not exist|permission denied for database|'
    r'no password supplied|has no password assigned|invalid value for parameter|'
    r'unrecognized configuration parameter|invalid connection option|for connection option|SSL was required')


class StoreError(WheelsError):
    """A query failed for a reason other than a lost connection (a bug or a schema mismatch)."""


class DatabaseBusy(WheelsError):
    """A statement failed for a passing reason (deadlock, serialization failure, lock or statement timeout)."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@dataclass(frozen=True)
class Message:
    msg_id: int
    read_ct: int
    enqueued_at: datetime
    message: object  # the decoded JSON; None when unreadable
    unreadable: str | None = None  # why it could not be decoded: a one-line reason naming the msg_id


def decode(msg_id: int, text: str | None, size: int) -> tuple[object, str | None]:
    """(the decoded message, None), or (None, why not): one message's JSON text, as the read query gave it."""
    if text is None:
        return None, f"message {msg_id} is {size} bytes, over the {MAX_INTENT_BYTES} limit"
    try:
        return json.loads(text), None
    except RecursionError:
        return None, f"message {msg_id} is nested too deeply to decode"
    except ValueError as exc:  # an integer of more digits than Python converts
        return None, f"message {msg_id} cannot be decoded: {' '.join(str(exc).split())}"


@dataclass(frozen=True)
class IntentState:
    intent_id: int
    known: bool
    status: str | None
    batch_id: int | None
    suppressed_because: str | None


@dataclass(frozen=True)
class Batch:
    id: int
    idempotency_key: str
    status: str
    emails: list[Email]
    attempts: int
    maybe_delivered: bool
    key_forgotten: bool


@dataclass(frozen=True)
class Letter:
    """A message to dead-letter (or suppress) with the reason; intent fields when known."""

    msg_id: int
    reason: str
    intent_id: int | None = None
    kind: str | None = None
    recipient: str | None = None


def batch_key(members: Sequence[tuple[int, int]]) -> str:
    """The idempotency key of a batch: derived from its (intent_id, msg_id) pairs.

    Stable for the same membership (a re-send, a second reader of the same
    messages); new when an operator replays an intent (a new message).
    """
    text = ",".join(f"{intent}:{msg}" for intent, msg in sorted(members))
    return "wheels-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def emails_json(emails: Sequence[Email]) -> str:
    return json.dumps([dataclasses.asdict(e) for e in emails], ensure_ascii=False, separators=(",", ":"))


class Store:
    """One autocommit connection (LISTENing on the queue); multi-statement units use transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: psycopg.Connection | None = None

    # -- connection -----------------------------------------------------------

    def connect(self) -> None:
        """Connect and LISTEN; DatabaseUnavailable when the database cannot be reached (yet),
        ConfigError when it answered and refused the sender for good."""
        self.close()
        # Short OLTP statements only: JIT compiling one (a few hundred ms, triggered by the
        # planner's guesses about one-row tables and unnest()) never pays off.
        options = f"-c jit=off -c statement_timeout={STATEMENT_TIMEOUT_S * 1000} -c lock_timeout={LOCK_TIMEOUT_S * 1000}"
        try:
            options = f"{options} {conninfo_to_dict(self.url).get('options') or ''}".strip()
        except psycopg.ProgrammingError:
            pass  # a malformed URL: db.connect says so
        try:
            self.conn = db.connect(self.url, autocommit=True, row_factory=dict_row, options=options,
                                   fallback_application_name=APPLICATION_NAME)
        except DatabaseUnavailable as exc:
            cause = exc.__cause__
            if cause is not None and _REFUSED_FOR_GOOD.search(str(cause)):
                raise ConfigError(f"cannot connect to the database at {db.describe(self.url)}, and waiting "
                                  "will not help (check DATABASE_URL and the role)") from cause
            raise
        with self._errors():
            self.conn.execute(Q["listen"])

    def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            try:
                conn.close()
            except psycopg.Error:
                pass

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors as project errors, by SQLSTATE: a lost connection (admin or crash
        shutdown, class 08) is dropped so the loop reconnects; a passing failure is DatabaseBusy."""
        if self.conn is None or self.conn.closed:
            raise DatabaseUnavailable(f"not connected to {db.describe(self.url)}")
        try:
            yield
        except psycopg.Error as exc:
            lost = exc.sqlstate in LOST_SQLSTATES or (exc.sqlstate or "").startswith("08")
            if lost or self.conn.broken or self.conn.closed:
                self.close()
                raise DatabaseUnavailable(f"lost the connection to {db.describe(self.url)}") from exc
            if exc.sqlstate in TRANSIENT_SQLSTATES:
                raise DatabaseBusy(f"{TRANSIENT_SQLSTATES[exc.sqlstate]} ({exc.sqlstate}): "
                                   f"{exc.diag.message_primary}", exc.sqlstate) from exc
            raise StoreError(type(exc).__name__) from exc

    def _run(self, name: str, params: dict | None = None) -> psycopg.Cursor:
        with self._errors():
            return self.conn.execute(Q[name], params or {})

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        with self._errors(), self.conn.transaction():
            yield self.conn

    # -- waking up ------------------------------------------------------------

    def notified(self) -> bool:
        """Whether an insert notification arrived since the last call (never blocks)."""
        with self._errors():
            return sum(1 for _ in self.conn.notifies(timeout=0)) > 0

    def wait(self, timeout_s: float, also_fd: int) -> None:
        """Block until the connection has input (a notification), `also_fd` is readable, or the timeout."""
        with self._errors():
            select.select([self.conn.fileno(), also_fd], [], [], max(0.0, timeout_s))

    # -- the queue ------------------------------------------------------------

    def read(self, qty: int, vt_s: int) -> list[Message]:
        """Up to qty messages, each decoded on its own: one that cannot be is returned unreadable, with
        the reason, and never fails the others (its jsonb stays in the queue row for the dead letter)."""
        messages = []
        for row in self._run("read", {"qty": qty, "vt_s": vt_s, "max_bytes": MAX_INTENT_BYTES}).fetchall():
            message, unreadable = decode(row["msg_id"], row.pop("text"), row.pop("bytes"))
            messages.append(Message(**row, message=message, unreadable=unreadable))
        return messages

    def set_vt(self, msg_ids: Sequence[int], vt_s: int) -> None:
        if msg_ids:
            self._run("set_vt", {"msg_ids": list(msg_ids), "vt_s": vt_s}).fetchall()

    def next_visible_s(self) -> float | None:
        """Seconds until the next queued message becomes visible (<= 0: now); None: the queue is empty."""
        return self._run("next_visible").fetchone()["wait_s"]

    def archive(self, msg_ids: Sequence[int]) -> None:
        if msg_ids:
            self._run("archive", {"msg_ids": list(msg_ids)}).fetchall()

    # -- intents --------------------------------------------------------------

    def intent_states(self, emails: Sequence[Email]) -> dict[int, IntentState]:
        rows = self._run("intent_states", {
            "intent_ids": [e.intent_id for e in emails],
            "recipients": [e.to for e in emails],
            "kinds": [e.kind for e in emails],
            "user_ids": [e.user_id for e in emails],
        }).fetchall()
        return {row["intent_id"]: IntentState(**row) for row in rows}

    def _letters(self, letters: Sequence[Letter]) -> dict:
        return {
            "msg_ids": [x.msg_id for x in letters],
            "intent_ids": [x.intent_id for x in letters],
            "kinds": [x.kind for x in letters],
            "recipients": [x.recipient for x in letters],
            "reasons": [x.reason for x in letters],
        }

    def dead_letter(self, letters: Sequence[Letter]) -> None:
        """Dead-letter poison messages and archive them, in one transaction."""
        if letters:
            self._run("dead_letter_messages", self._letters(letters)).fetchone()

    def suppress(self, letters: Sequence[Letter]) -> None:
        """Record intents as suppressed (reason in each letter) and archive their messages."""
        if letters:
            self._run("suppress", self._letters(letters)).fetchone()

    # -- batches --------------------------------------------------------------

    def create_batch(self, members: Sequence[tuple[Email, int]]) -> tuple[Batch, list[int]] | None:
        """Fix a batch of (email, msg_id) before any call, locked by this session.

        Returns the batch and the msg_ids of the members it holds, or None when
        every member was already taken (by another sender that read the same
        messages). The emails are stored as the JSON text sent: a re-send after
        a crash sends the very same bytes under the same key.
        """
        with self._transaction() as conn:
            key = batch_key([(e.intent_id, m) for e, m in members])
            row = conn.execute(Q["create_batch"], {
                "key": key,
                "size": len(members),
                "emails": Json(emails_json([e for e, _ in members]), dumps=lambda text: text),
            }).fetchone()
            if row is None:
                return None
            batch_id = row["id"]
            claimed = {r["intent_id"] for r in conn.execute(Q["join_batch"], {
                "batch_id": batch_id,
                "intent_ids": [e.intent_id for e, _ in members],
                "msg_ids": [m for _, m in members],
                "kinds": [e.kind for e, _ in members],
                "recipients": [e.to for e, _ in members],
            }).fetchall()}
            kept = [(e, m) for e, m in members if e.intent_id in claimed]
            if not kept:
                conn.execute(Q["drop_batch"], {"batch_id": batch_id})
                return None
            if len(kept) < len(members):
                key = batch_key([(e.intent_id, m) for e, m in kept])
                conn.execute(Q["reshape_batch"], {
                    "batch_id": batch_id,
                    "key": key,
                    "size": len(kept),
                    "emails": Json(emails_json([e for e, _ in kept]), dumps=lambda text: text),
                })
            conn.execute(Q["lock_batch"], {"lock_space": BATCH_LOCK_SPACE, "batch_id": batch_id})
        batch = Batch(id=batch_id, idempotency_key=key, status="pending", emails=[e for e, _ in kept], attempts=0,
                      maybe_delivered=False, key_forgotten=False)
        return batch, [m for _, m in kept]

    def lock_batch(self, batch_id: int) -> bool:
        """Try to become the one sender that calls the provider for this batch."""
        return self._run("lock_batch", {"lock_space": BATCH_LOCK_SPACE, "batch_id": batch_id}).fetchone()["locked"]

    def unlock_batch(self, batch_id: int) -> None:
        if self.conn is None:
            return  # the session lock went with the lost connection
        self._run("unlock_batch", {"lock_space": BATCH_LOCK_SPACE, "batch_id": batch_id}).fetchone()

    def batch(self, batch_id: int) -> Batch:
        row = self._run("batch", {"batch_id": batch_id, "key_memory_h": KEY_MEMORY_H}).fetchone()
        emails = [Email(**e) for e in row.pop("emails") or []]
        return Batch(emails=emails, **row)

    def start_call(self, batch_id: int) -> bool:
        """Mark the batch as maybe delivered, just before the call; return the flag as it was."""
        return self._run("start_call", {"batch_id": batch_id}).fetchone()["was_maybe_delivered"]

    def not_delivered(self, batch_id: int, was_maybe_delivered: bool, error: str) -> None:
        """The provider definitely did not send this call: restore the flag start_call set."""
        self._run("not_delivered", {"batch_id": batch_id, "was_maybe_delivered": was_maybe_delivered, "error": error})

    def finish_batch(self, batch_id: int, outcomes: Sequence[tuple[int, str | None, str | None]],
                     *, attempted: int, batch_error: str | None = None) -> dict:
        """Record (intent_id, provider_id, error) for every member, dead-letter the failed ones,
        archive all their messages and close the batch, in one transaction."""
        with self._transaction() as conn:
            return conn.execute(Q["finish_batch"], {
                "batch_id": batch_id,
                "intent_ids": [o[0] for o in outcomes],
                "provider_ids": [o[1] for o in outcomes],
                "errors": [o[2] for o in outcomes],
                "attempted": attempted,
                "batch_error": batch_error,
            }).fetchone()

    def retry_batch(self, batch_id: int, error: str, delay_s: int, *, attempted: int) -> None:
        """Keep the batch (same key) and hide its messages for delay_s; count the attempt if attempted."""
        self._run("retry_batch", {"batch_id": batch_id, "error": error, "delay_s": delay_s, "attempted": attempted}).fetchone()

    # -- pace and quota -------------------------------------------------------

    def take_slot(self, limit_per_s: float, margin: float) -> tuple[float, bool, str | None]:
        """(seconds to wait, paused, pause reason); 0 seconds: a request may start now, and is counted."""
        row = self._run("take_slot", {"limit_per_s": limit_per_s, "margin": margin}).fetchone()
        return row["wait_s"], row["paused"], row["pause_reason"]

    def slow_down(self, retry_after_s: float, limit_per_s: float | None) -> None:
        self._run("slow_down", {"retry_after_s": retry_after_s, "limit_per_s": limit_per_s})

    def follow_limit(self, limit_per_s: float) -> None:
        self._run("follow_limit", {"limit_per_s": limit_per_s})

    def pause(self, resume_after_s: float, reason: str) -> float:
        return self._run("pause", {"resume_after_s": resume_after_s, "reason": reason}).fetchone()["wait_s"]

    def pause_left(self) -> tuple[float, str | None]:
        row = self._run("pause_left").fetchone()
        return row["wait_s"], row["pause_reason"]

    # -- process --------------------------------------------------------------

    def settings(self) -> dict:
        return self._run("settings").fetchone()

    def email_kinds(self) -> list[tuple[str, str | None]]:
        """wheels.email_kinds' (kind, preference_kind) rows."""
        return [(row["kind"], row["preference_kind"]) for row in self._run("email_kinds").fetchall()]

    def heartbeat(self, host: str, pid: int, started_at: datetime, transport: str,
                  stopped_at: datetime | None = None) -> None:
        self._run("heartbeat", {"host": host, "pid": pid, "started_at": started_at,
                                     "transport": transport, "stopped_at": stopped_at})
