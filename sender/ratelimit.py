"""One request pace for all sender processes together, kept in PostgreSQL.

The wheels.sender_throttle row holds the next free request slot (GCRA: each
call reserves a slot and pushes the next one 1/limit seconds on, atomically,
so N processes on N hosts share one limit with no burst) and a quota pause
that stops every sender until the provider's reset. A 429 pushes the slot past
its retry-after for everybody and lowers the pace to the limit it reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from sender.store import Store

# Slots are 10% wider than 1/limit: requests leave a little after their slot
# (scheduling, network), and that jitter must not put limit + 1 requests into
# one second at the provider.
SLOT_MARGIN = 1.1


@dataclass(frozen=True)
class Slot:
    """When the next call may start (wait_s from now), or why nobody may call (a quota pause)."""

    wait_s: float
    paused_because: str | None = None


class Pace:
    """limit_per_s <= 0: no request limit (benchmarks); the quota pause still holds."""

    def __init__(self, store: Store, limit_per_s: float) -> None:
        self.store = store
        self.limit_per_s = limit_per_s

    def next_call(self) -> Slot:
        if self.limit_per_s > 0:
            wait_s, paused, reason = self.store.take_slot(self.limit_per_s, SLOT_MARGIN)
        else:
            wait_s, reason = self.store.pause_left()
            paused = wait_s > 0
        return Slot(max(0.0, wait_s), (reason or "paused") if paused else None)

    def pause_left(self) -> Slot:
        wait_s, reason = self.store.pause_left()
        return Slot(wait_s, (reason or "paused") if wait_s > 0 else None)

    def rate_limited(self, retry_after_s: float, limit_per_s: float | None) -> None:
        self.store.slow_down(retry_after_s, limit_per_s)

    def quota_exhausted(self, resume_after_s: float, reason: str) -> float:
        """Pause every sender; return the seconds left of the pause."""
        return self.store.pause(resume_after_s, reason)
