"""One request pace for all sender processes together, kept in PostgreSQL.

The wheels.sender_throttle row holds the start times of the latest requests
(a sliding-window log: a request starts only when the one `limit` requests
back has left the one-second window, checked and recorded in one atomic
UPDATE, so N processes on N hosts share one limit), a quota pause that stops
every sender until the provider's reset, and a circuit breaker. A 429 holds
everybody back for its retry-after and lowers the pace to the limit it reports.

The circuit breaker: the first call that finds the provider down or failing
(5xx, timeout, unreachable) opens it; then nobody calls but the one sender that
claims the probe when it is due. A failed probe doubles the interval (capped at
backoff.MAX_PROBE_INTERVAL_S), any answer from the provider closes it for all.
"""

from __future__ import annotations

from dataclasses import dataclass

from sender import backoff
from sender.store import Store, Throttle

# The window is 10% wider than the provider's: a request reaches it a little
# after its start was recorded (a round trip, scheduling), and uneven delays
# must not put limit + 1 requests into one of its windows.
WINDOW_MARGIN = 1.1
# A claimed probe is held this long: longer than a provider call with its 10 s
# timeout, so a second sender does not probe meanwhile; a prober that died
# mid-call holds it no longer than this.
PROBE_LEASE_S = 15.0


@dataclass(frozen=True)
class Slot:
    """Started (wait_s == 0), or wait_s before asking again; paused_because: a quota pause runs or the
    provider is down (hold the batch); probe: this call is the circuit breaker's probe."""

    wait_s: float
    paused_because: str | None = None
    probe: bool = False


def _slot(throttle: Throttle, probe: bool = False) -> Slot:
    paused = (throttle.pause_reason or "paused") if throttle.paused and throttle.wait_s > 0 else None
    return Slot(max(0.0, throttle.wait_s), paused, probe)


class Pace:
    """limit_per_s <= 0: no request limit (benchmarks). The quota pause and the breaker hold either way:
    the loop checks them before each read (pause_left); with a limit take_slot checks them again
    before each call, and while the breaker is open (as last seen) claim_probe lets one call through."""

    def __init__(self, store: Store, limit_per_s: float) -> None:
        self.store = store
        self.limit_per_s = limit_per_s
        self._followed: float | None = None  # the reported limit this process last wrote
        self.outage = False  # the circuit breaker was open when this process last looked

    def next_call(self) -> Slot:
        if self.limit_per_s > 0:
            throttle = self.store.take_slot(self.limit_per_s, WINDOW_MARGIN)
            self.outage = throttle.outage
            if throttle.wait_s > 0:
                return _slot(throttle)
        if not self.outage:
            return Slot(0.0)
        throttle, probe = self.store.claim_probe(PROBE_LEASE_S)
        self.outage = throttle.outage
        return _slot(throttle, probe)

    def pause_left(self) -> Slot:
        throttle = self.store.pause_left()
        self.outage = throttle.outage
        return _slot(throttle)

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

    def provider_down(self, reason: str, retry_after_s: float | None, *, probe: bool,
                      initial_s: float) -> tuple[float, bool]:
        """Open the breaker, or after a failed probe double its interval: (seconds to the next probe, opened)."""
        self.outage = True
        return self.store.provider_down(reason, retry_after_s, probe=probe,
                                        initial_s=min(max(initial_s, backoff.MIN_PROBE_INTERVAL_S),
                                                      backoff.MAX_PROBE_INTERVAL_S),
                                        max_s=backoff.MAX_PROBE_INTERVAL_S)

    def provider_back(self) -> float | None:
        """The provider answered: close the breaker; how long it was open (None: it was not)."""
        self.outage = False
        return self.store.provider_back()
