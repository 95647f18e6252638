"""One request pace for all sender processes together, kept in PostgreSQL.

The wheels.sender_throttle row holds the start times of the latest requests
(a sliding-window log: a request starts only when the one `limit` requests
back has left the one-second window, checked and recorded in one atomic
UPDATE, so N processes on N hosts share one limit) and a quota pause that
stops every sender until the provider's reset. A 429 holds everybody back
for its retry-after and lowers the pace to the limit it reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from sender.store import Store

# The window is 10% wider than the provider's: a request reaches it a little
# after its start was recorded (a round trip, scheduling), and uneven delays
# must not put limit + 1 requests into one of its windows.
WINDOW_MARGIN = 1.1


@dataclass(frozen=True)
class Slot:
    """Started (wait_s == 0), or wait_s before asking again; paused_because: a quota pause runs."""

    wait_s: float
    paused_because: str | None = None


class Pace:
    """limit_per_s <= 0: no request limit (benchmarks). The quota pause holds either way:
    the loop checks it before each read (pause_left), and take_slot again before each call."""

    def __init__(self, store: Store, limit_per_s: float) -> None:
        self.store = store
        self.limit_per_s = limit_per_s
        self._followed: float | None = None  # the reported limit this process last wrote

    def next_call(self) -> Slot:
        if self.limit_per_s <= 0:
            return Slot(0.0)
        wait_s, paused, reason = self.store.take_slot(self.limit_per_s, WINDOW_MARGIN)
        return Slot(max(0.0, wait_s), (reason or "paused") if paused else None)

    def pause_left(self) -> Slot:
        wait_s, reason = self.store.pause_left()
        return Slot(wait_s, (reason or "paused") if wait_s > 0 else None)

    def follow(self, limit_per_s: float | None) -> None:
        """The provider reported its limit on an answer: pace everybody by it (once per change)."""
        if limit_per_s and limit_per_s != self._followed:
            self.store.follow_limit(limit_per_s)
            self._followed = limit_per_s

    def rate_limited(self, retry_after_s: float, limit_per_s: float | None) -> None:
        self.store.slow_down(retry_after_s, limit_per_s)

    def quota_exhausted(self, resume_after_s: float, reason: str) -> float:
        """Pause every sender; return the seconds left of the pause."""
        return self.store.pause(resume_after_s, reason)
