"""`sender drain`: the loop that delivers the email_intents queue.

Wait until notified (pgmq's insert notification), the poll interval elapsed
(delayed messages and expired visibility timeouts notify nobody) or asked to
stop; then drain: read up to 100 messages with a visibility timeout, render,
record what needs no call (poison, suppressed, already sent), fix a batch in
the database (sender/store.py: membership + rendered emails + key, before the
call), call the provider at the shared pace, and record the outcome in the
transaction that archives the messages. Any message this process read but did
not settle is made visible again when it stops.

Nothing one message holds stops the loop: it is dead-lettered with the reason.
The database may come and go: the sender waits for it at start (long-running),
reconnects when it goes, and backs off and carries on after a statement failed
for a passing reason (deadlock, lock or statement timeout).
"""

from __future__ import annotations

import logging
import math
import os
import select
import signal
import socket
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

from sender import backoff
from sender.config import DrainConfig
from sender.ratelimit import Pace
from sender.render import BadIntent, Email, render
from wheels_core import kinds
from wheels_core.email_settings import EmailSettings
from sender.store import KEY_MEMORY_H, Batch, DatabaseBusy, Letter, Message, Store
from sender.transports import (
    Accepted,
    BatchRejected,
    InvalidCredentials,
    QuotaExhausted,
    RateLimited,
    RetryLater,
    Transport,
)
from wheels_core.errors import DatabaseUnavailable, one_line

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 10.0
# Another sender is calling the provider for this batch right now: look again then.
BUSY_BATCH_DELAY_S = 2


@dataclass
class Tally:
    """What one drain step did: the fields of its log line."""

    read: int = 0
    batches: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    suppressed: int = 0
    duplicates: int = 0
    api_ms: float = 0.0


class Stopper:
    """SIGTERM/SIGINT ask the loop to stop; any wait wakes at once (self-pipe)."""

    def __init__(self) -> None:
        self.stopping = False
        self.read_fd, self._write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._previous: dict[int, object] = {}
        self._previous_fd: int | None = None

    def install(self) -> None:
        """Handle SIGTERM and SIGINT (main thread only)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)
        self._previous_fd = signal.set_wakeup_fd(self._write_fd)

    def _handle(self, signum: int, frame) -> None:
        if not self.stopping:
            log.info("action=stop signal=%s: finishing the batch in flight", signal.Signals(signum).name)
        self.stop()

    def stop(self) -> None:
        self.stopping = True
        try:
            os.write(self._write_fd, b"\0")
        except BlockingIOError:
            pass

    def sleep(self, seconds: float) -> None:
        """Sleep, unless asked to stop first."""
        if not self.stopping and seconds > 0:
            select.select([self.read_fd], [], [], seconds)

    def close(self) -> None:
        if self._previous_fd is not None:
            signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        os.close(self.read_fd)
        os.close(self._write_fd)


def intent_fields(message: object) -> dict:
    """The intent's id, kind and recipient where a message that failed to render still shows them."""
    if not isinstance(message, dict):
        return {}
    intent_id = message.get("intent_id")
    fields = {"intent_id": intent_id if type(intent_id) is int and 0 < intent_id < 2**63 else None}
    for key, field in (("kind", "kind"), ("to", "recipient")):
        value = message.get(key)
        fields[field] = value[:200] if isinstance(value, str) else None
    return fields


class Drainer:
    def __init__(self, store: Store, transport: Transport, settings: EmailSettings, config: DrainConfig,
                 stopper: Stopper) -> None:
        self.store = store
        self.transport = transport
        self.settings = settings
        self.config = config
        self.stopper = stopper
        self.pace = Pace(store, config.rate_limit_per_s or 0)
        self.batch_size = min(config.batch_size, transport.max_batch)
        # Messages read by this process and not yet settled (archived, or hidden on purpose).
        self.unsettled: set[int] = set()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started_at = datetime.now(timezone.utc)
        self._heartbeat_due = 0.0
        self._paused = False  # a quota pause runs (logged when it starts and ends)
        # Backoff after a passing database error; reset once a batch went through without one.
        self._db_retry = backoff.Attempt()

    # -- the loop -------------------------------------------------------------

    def start(self) -> bool:
        """Connect and settle the settings; False when asked to stop before the database answered.

        Long-running, the sender waits for its database (growing intervals, a log line each),
        so nothing needs to restart it; --once fails at once (most likely a script's wrong URL).
        A database that refused the sender for good (credentials, role, database name) is a
        ConfigError either way.
        """
        attempt = backoff.Attempt()
        while True:
            try:
                self.store.connect()
                row = self.store.settings()
                break
            except (DatabaseUnavailable, DatabaseBusy) as exc:
                if self.config.once and isinstance(exc, DatabaseUnavailable):
                    raise
                if not self.wait_for_database(attempt, exc):
                    return False
        kinds.check(self.store.email_kinds())
        self.config = self.config.with_database_settings(row)
        # The limit is the provider's; an outbox folder has none.
        self.pace.limit_per_s = self.config.rate_limit_per_s if self.transport.name != "outbox" else 0.0
        log.info("action=start transport=%s rate_limit_per_s=%s max_attempts=%s once=%s",
                 self.transport.name, self.pace.limit_per_s or "off", self.config.max_attempts, self.config.once)
        return True

    def run(self) -> None:
        """Drain until asked to stop (or, with --once, until the queue is empty)."""
        if not self.start():
            self.store.close()
            return
        try:
            while not self.stopper.stopping:
                try:
                    if not self.step():
                        break
                except DatabaseUnavailable as exc:
                    self.unsettled.clear()  # their visibility timeouts bring them back
                    self.reconnect(exc)
                except DatabaseBusy as exc:
                    # Nothing is lost: what this step read and did not settle comes back by its
                    # visibility timeout (a batch it fixed is resumed under the same key).
                    wait_s = self._db_retry.failed()
                    log.warning("action=database_retry sqlstate=%s wait_s=%.1f error=%s", exc.sqlstate, wait_s, exc)
                    self.stopper.sleep(wait_s)
        finally:
            self.release()

    def step(self) -> bool:
        """One turn of the loop; False when --once found the queue empty."""
        self.heartbeat()
        pause = self.pace.pause_left()
        if bool(pause.paused_because) != self._paused:
            self._paused = not self._paused
            if self._paused:
                log.warning("action=paused wait_s=%.0f reason=%s", pause.wait_s, pause.paused_because)
            else:
                log.info("action=resumed")
        if self._paused:
            self.idle(min(pause.wait_s, self.config.poll_interval_s), listen=False)
            return True
        if self.drain_batch():
            return True
        if self.config.once:
            wait_s = self.store.next_visible_s()
            if wait_s is None:
                return False
            self.idle(min(max(wait_s, 0.05), self.config.poll_interval_s), listen=False)
            return True
        self.idle(self.config.poll_interval_s, listen=True)
        return True

    def idle(self, timeout_s: float, *, listen: bool) -> None:
        """Wait for an insert notification (if listen), the timeout or a stop."""
        if listen:
            if not self.store.notified():
                self.store.wait(timeout_s, self.stopper.read_fd)
        else:
            self.stopper.sleep(timeout_s)

    def reconnect(self, exc: Exception) -> None:
        """Reconnect with backoff; a log line when the database goes, one per attempt, one when it is back."""
        log.warning("action=database_lost error=%s: reconnecting with backoff", one_line(exc))
        lost_at = time.monotonic()
        attempt = backoff.Attempt()
        while self.wait_for_database(attempt, exc):
            try:
                self.store.connect()
            except (DatabaseUnavailable, DatabaseBusy) as again:
                exc = again
                continue
            log.info("action=database_back down_s=%.1f", time.monotonic() - lost_at)
            return

    def wait_for_database(self, attempt: backoff.Attempt, exc: Exception) -> bool:
        """After a failed connection attempt: log it with the wait, wait; False when asked to stop meanwhile."""
        wait_s = attempt.failed()
        log.warning("action=database_wait wait_s=%.1f error=%s", wait_s, one_line(exc))
        self.stopper.sleep(wait_s)
        return not self.stopper.stopping

    def heartbeat(self, stopped: bool = False) -> None:
        if stopped or time.monotonic() >= self._heartbeat_due:
            self.store.heartbeat(self.host, self.pid, self.started_at, self.transport.name,
                                 datetime.now(timezone.utc) if stopped else None)
            self._heartbeat_due = time.monotonic() + HEARTBEAT_INTERVAL_S

    def release(self) -> None:
        """On the way out: unsettled messages visible again, heartbeat stopped, connection closed."""
        try:
            if self.unsettled:
                self.store.set_vt(sorted(self.unsettled), 0)
                log.info("action=released messages=%d", len(self.unsettled))
                self.unsettled.clear()
            self.heartbeat(stopped=True)
        except (DatabaseUnavailable, DatabaseBusy):
            pass  # nothing lost: the visibility timeouts bring them back
        finally:
            self.store.close()

    # -- one batch ------------------------------------------------------------

    def drain_batch(self) -> bool:
        """Read and handle up to batch_size messages; False when none was visible."""
        messages = self.store.read(self.batch_size, self.config.visibility_timeout_s)
        if not messages:
            return False
        self.unsettled.update(m.msg_id for m in messages)
        tally = Tally(read=len(messages))
        fresh, resumed = self.sort(messages, tally)
        if fresh and not self.stopper.stopping:
            created = self.store.create_batch(fresh)
            kept = set(created[1]) if created else set()
            self.hide([m for _, m in fresh if m not in kept], BUSY_BATCH_DELAY_S)
            if created:
                self.send(*created, tally)
        for batch_id, msg_ids in resumed.items():
            if self.stopper.stopping:
                break
            if self.store.lock_batch(batch_id):
                self.send(self.store.batch(batch_id), msg_ids, tally)
            else:
                self.hide(msg_ids, BUSY_BATCH_DELAY_S)
        log.info("action=batch read=%d batches=%d sent=%d retried=%d dead_lettered=%d suppressed=%d "
                 "duplicates=%d api_ms=%.0f", tally.read, tally.batches, tally.sent, tally.retried, tally.dead,
                 tally.suppressed, tally.duplicates, tally.api_ms)
        self._db_retry.reset()
        return True

    def sort(self, messages: list[Message], tally: Tally) -> tuple[list[tuple[Email, int]], dict[int, list[int]]]:
        """Settle what needs no provider call; return the new (email, msg_id) pairs and the
        unfinished batches (id: msg_ids) that read messages belong to."""
        poison: list[Letter] = []
        rendered: list[tuple[Email, int]] = []
        for m in messages:
            if m.unreadable:
                poison.append(Letter(m.msg_id, m.unreadable))
                continue
            try:
                rendered.append((render(m.message, self.settings), m.msg_id))
            except BadIntent as exc:
                poison.append(Letter(m.msg_id, " ".join(str(exc).split()), **intent_fields(m.message)))
            except Exception as exc:  # a bug the message triggers must not stop the loop (invariant 8)
                log.exception("action=render_failed msg_id=%s", m.msg_id)
                reason = f"rendering failed: {type(exc).__name__}: {' '.join(str(exc).split())}"
                poison.append(Letter(m.msg_id, reason, **intent_fields(m.message)))
        states = self.store.intent_states([e for e, _ in rendered]) if rendered else {}
        suppressed: list[Letter] = []
        done: list[int] = []
        later: list[int] = []
        fresh: dict[int, tuple[Email, int]] = {}
        resumed: dict[int, list[int]] = defaultdict(list)
        for email, msg_id in rendered:
            state = states[email.intent_id]
            if not state.known:
                poison.append(Letter(msg_id, f"intent_id {email.intent_id} is not in wheels.email_ledger",
                                     None, email.kind, email.to))
            elif state.status in ("sent", "suppressed"):
                done.append(msg_id)
            elif state.status in ("sending", "retrying"):
                resumed[state.batch_id].append(msg_id)
            elif state.suppressed_because:
                suppressed.append(Letter(msg_id, state.suppressed_because, email.intent_id, email.kind, email.to))
            elif email.intent_id in fresh:
                later.append(msg_id)  # a second message for one intent: settled once the first is
            else:
                fresh[email.intent_id] = (email, msg_id)
        for letter in poison:
            log.error("action=dead_letter msg_id=%s intent_id=%s reason=%s", letter.msg_id, letter.intent_id,
                        letter.reason)
        self.store.dead_letter(poison)
        self.store.suppress(suppressed)
        self.store.archive(done)
        self.hide(later, BUSY_BATCH_DELAY_S)
        self.settled([x.msg_id for x in poison + suppressed] + done)
        tally.dead += len(poison)
        tally.suppressed += len(suppressed)
        tally.duplicates += len(done) + len(later)
        return [fresh[i] for i in sorted(fresh)], resumed

    def send(self, batch: Batch, msg_ids: list[int], tally: Tally) -> None:
        """Call the provider for one batch (this session holds its lock) and record the outcome."""
        try:
            if batch.status == "done":
                self.store.archive(msg_ids)  # finished by another sender since we looked
                tally.duplicates += len(msg_ids)
            elif batch.key_forgotten and batch.maybe_delivered:
                self.unknown_outcome(batch, tally)
            else:
                self.call(batch, tally)
            self.settled(msg_ids)
        finally:
            self.store.unlock_batch(batch.id)

    def call(self, batch: Batch, tally: Tally) -> None:
        while (slot := self.pace.next_call()).wait_s > 0:
            if slot.paused_because:
                self.store.retry_batch(batch.id, f"paused: {slot.paused_because}", math.ceil(slot.wait_s),
                                       attempted=0)
                return
            self.stopper.sleep(slot.wait_s)
            if self.stopper.stopping:
                raise _Stopped
        size = len(batch.emails)
        was_maybe_delivered = self.store.start_call(batch.id)
        started = time.monotonic()
        try:
            results = self.transport.send_batch(batch.emails, batch.idempotency_key)
        except RateLimited as exc:
            self.store.not_delivered(batch.id, was_maybe_delivered, str(exc))
            wait_s = exc.retry_after_s if exc.retry_after_s is not None else backoff.INITIAL_DELAY_S
            self.pace.rate_limited(wait_s, exc.limit_per_s)
            self.store.retry_batch(batch.id, str(exc), math.ceil(wait_s), attempted=0)
            log.info("action=rate_limited batch=%s retry_after_s=%s limit_per_s=%s", batch.id, exc.retry_after_s,
                     exc.limit_per_s)
            tally.retried += size
        except QuotaExhausted as exc:
            self.store.not_delivered(batch.id, was_maybe_delivered, str(exc))
            wait_s = self.pace.quota_exhausted(exc.resume_after_s, str(exc))
            self.store.retry_batch(batch.id, str(exc), math.ceil(wait_s), attempted=0)
            log.warning("action=quota_pause batch=%s resume_after_s=%.0f error=%s", batch.id, wait_s, exc)
            tally.retried += size
        except RetryLater as exc:
            attempts = batch.attempts + 1
            if attempts >= self.config.max_attempts:
                reason = f"gave up after {attempts} attempts: {exc}"
                self.fail(batch, reason, tally)
            else:
                delay_s = backoff.retry_delay_s(attempts, self.config.retry_initial_s)
                delay_s = max(delay_s, exc.retry_after_s or 0)
                self.store.retry_batch(batch.id, str(exc), math.ceil(delay_s), attempted=1)
                log.info("action=retry batch=%s attempts=%d delay_s=%.1f error=%s", batch.id, attempts, delay_s, exc)
                tally.retried += size
        except BatchRejected as exc:
            self.store.not_delivered(batch.id, was_maybe_delivered, str(exc))
            self.fail(batch, str(exc), tally)
        except InvalidCredentials as exc:
            self.store.not_delivered(batch.id, was_maybe_delivered, str(exc))
            raise
        else:
            self.pace.follow(getattr(self.transport, "reported_limit_per_s", None))
            outcomes = [(e.intent_id, r.provider_id, None) if isinstance(r, Accepted) else (e.intent_id, None, r.reason)
                        for e, r in zip(batch.emails, results)]
            counts = self.store.finish_batch(batch.id, outcomes, attempted=1)
            tally.sent += counts["sent"]
            tally.dead += counts["dead"]
            for (intent_id, _, reason) in outcomes:
                if reason:
                    log.error("action=dead_letter batch=%s intent_id=%s reason=%s", batch.id, intent_id, reason)
        finally:
            tally.api_ms += (time.monotonic() - started) * 1000
            tally.batches += 1

    def fail(self, batch: Batch, reason: str, tally: Tally) -> None:
        counts = self.store.finish_batch(batch.id, [(e.intent_id, None, reason) for e in batch.emails],
                                         attempted=1, batch_error=reason)
        tally.dead += counts["dead"]
        log.error("action=dead_letter batch=%s intents=%d reason=%s", batch.id, counts["dead"], reason)

    def unknown_outcome(self, batch: Batch, tally: Tally) -> None:
        """The provider forgot this batch's key and a call may have gone through: never re-send blindly."""
        reason = (f"batch {batch.id} was first sent over {KEY_MEMORY_H} h ago without a recorded answer; "
                  "check the provider's log before replaying")
        counts = self.store.finish_batch(batch.id, [(e.intent_id, None, reason) for e in batch.emails],
                                         attempted=0, batch_error=reason)
        tally.dead += counts["dead"]
        log.error("action=dead_letter batch=%s intents=%d reason=%s", batch.id, counts["dead"], reason)

    # -- bookkeeping ----------------------------------------------------------

    def hide(self, msg_ids: list[int], delay_s: int) -> None:
        self.store.set_vt(msg_ids, delay_s)
        self.settled(msg_ids)

    def settled(self, msg_ids) -> None:
        self.unsettled.difference_update(msg_ids)


class _Stopped(Exception):
    """Asked to stop while waiting for a request slot: the batch goes back unsent."""


def drain(store: Store, transport: Transport, settings: EmailSettings, config: DrainConfig,
          *, handle_signals: bool = True) -> None:
    """Run `sender drain` until stopped (SIGTERM/SIGINT) or, with config.once, until the queue is empty."""
    stopper = Stopper()
    if handle_signals:
        stopper.install()
    try:
        Drainer(store, transport, settings, config, stopper).run()
    except _Stopped:
        pass
    finally:
        stopper.close()
