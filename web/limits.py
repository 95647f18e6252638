"""Per-client limits on failures: wrong dashboard tokens and unusable links (issue 11).

Each limiter is a token bucket per client that only failures spend: `burst`
failures at once, then one more every `refill_s`. A client with none left gets
429 and Retry-After (web/app.py) until one has refilled; a request that succeeds
spends nothing. The buckets live in this process (one limiter per kind per
process; several processes or instances each count on their own) and at most
MAX_CLIENTS of them: past that, the client that failed least recently is
forgotten, which gives it a fresh budget and nothing more.

A client is its address as the ASGI server reports it (X-Forwarded-For counts
only with WEB_PROXY_HOPS, web/guard.py ForwardedClient); an IPv6 client is its
/64, which one host or household usually holds whole.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.requests import Request

from wheels_core.errors import WheelsError

# Someone mistyping the dashboard token gets a few tries; a guesser, one a minute.
DASHBOARD_FAILURES_BURST = 5
DASHBOARD_FAILURE_REFILL_S = 60.0
# Unsubscribe and preferences links that do not work: a mangled link clicked again
# and again stays well inside this; a prober gets ten a minute.
BAD_LINK_FAILURES_BURST = 20
BAD_LINK_FAILURE_REFILL_S = 6.0
# Buckets kept per limiter (about 200 bytes each).
MAX_CLIENTS = 10_000
IPV6_CLIENT_PREFIX_BITS = 64


class TooManyFailures(WheelsError):
    """A client has no failures left to spend; it may try again after retry_after_s."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failures: retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


def client_of(request: Request) -> str:
    """The key a client's failures are counted under: its address, or its IPv6 /64."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network((address, IPV6_CLIENT_PREFIX_BITS), strict=False))
    return str(address)


class FailureLimiter:
    def __init__(self, burst: int, refill_s: float, *, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.refill_s = refill_s
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client: (failures left, when)
        self._lock = threading.Lock()

    def _left(self, client: str, now: float) -> float:
        left, then = self._buckets.get(client, (self.burst, now))
        return min(self.burst, left + (now - then) / self.refill_s)

    def check(self, client: str) -> None:
        """TooManyFailures unless `client` has a failure left to spend."""
        with self._lock:
            left = self._left(client, self.clock())
        if left < 1:
            raise TooManyFailures(math.ceil((1 - left) * self.refill_s))

    def fail(self, client: str) -> None:
        """Spend one of `client`'s failures."""
        with self._lock:
            now = self.clock()
            self._buckets[client] = (max(0.0, self._left(client, now) - 1), now)
            self._buckets.move_to_end(client)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
