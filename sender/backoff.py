"""Exponential backoff with jitter (after psycopg_pool's AttemptWithBackoff).

Three users: reconnecting to PostgreSQL and retrying after a passing database
error (`Attempt`), the delay before a batch that failed for a transient reason
is tried again (`retry_delay_s`, which the loop turns into the messages'
visibility timeout), and the probes of the shared circuit breaker while the
provider is down (sender/ratelimit.py, in SQL).
"""

from __future__ import annotations

import random

INITIAL_DELAY_S = 1.0
DELAY_FACTOR = 2.0
DELAY_JITTER = 0.1
MAX_RECONNECT_DELAY_S = 30.0
MAX_RETRY_DELAY_S = 600.0
# The circuit breaker's first probe comes after the retry backoff's initial delay
# (not sooner than MIN_PROBE_INTERVAL_S); each failed probe doubles the interval
# up to MAX_PROBE_INTERVAL_S, so the backlog moves within a minute of the
# provider's return. One probe for all senders: no jitter needed.
MIN_PROBE_INTERVAL_S = 0.1
MAX_PROBE_INTERVAL_S = 60.0


def jittered(delay_s: float) -> float:
    """delay_s give or take DELAY_JITTER (a fraction), so many waiters do not wake at once."""
    return delay_s * (1.0 + random.uniform(-DELAY_JITTER, DELAY_JITTER))


def retry_delay_s(attempts: int, initial_s: float = INITIAL_DELAY_S) -> float:
    """The wait before try number attempts + 1 of a batch that failed `attempts` times (>= 1)."""
    return min(MAX_RETRY_DELAY_S, jittered(initial_s * DELAY_FACTOR ** max(0, attempts - 1)))


class Attempt:
    """When to try again after a failure; reset after a success."""

    def __init__(self, initial_s: float = INITIAL_DELAY_S, max_s: float = MAX_RECONNECT_DELAY_S) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.delay_s = 0.0

    def failed(self) -> float:
        """Record a failure; return the seconds to wait before the next try."""
        self.delay_s = jittered(self.initial_s) if not self.delay_s else min(self.max_s, self.delay_s * DELAY_FACTOR)
        return self.delay_s

    def reset(self) -> None:
        """Record a success: the next failure waits the initial delay again."""
        self.delay_s = 0.0
