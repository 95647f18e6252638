"""Failure limits of the web service (issue 11, item 8) through the real app (Starlette's
TestClient against real PostgreSQL): unusable links and wrong dashboard tokens are limited
per client with 429 and Retry-After; requests that succeed never are."""

from __future__ import annotations

import math

import pytest
from starlette.testclient import TestClient

from tests.sender_support import profile, rows
from tests.web_support import ENV, token
from web.app import WebSettings, create_app
from web.dashboard import COOKIE
from web.limits import (BAD_LINK_FAILURE_REFILL_S, BAD_LINK_FAILURES_BURST, DASHBOARD_FAILURE_REFILL_S,
                        DASHBOARD_FAILURES_BURST, FailureLimiter, TooManyFailures)
from web.store import Store
from wheels_core.errors import ConfigError

TOKEN = "dashboard-token-for-tests"
# Behind one proxy, which appends the address it saw to X-Forwarded-For.
PROXIED = WebSettings.from_env({**ENV, "WEB_PROXY_HOPS": "1", "DASHBOARD_TOKEN": TOKEN})
DIRECT = WebSettings.from_env(ENV)
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click", "headers": {"content-type": "application/x-www-form-urlencoded"}}


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_for(url: str, settings: WebSettings, clock: Clock) -> TestClient:
    return TestClient(create_app(Store(url), settings, clock=clock), base_url="http://127.0.0.1:8000")


def via(address: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers of a request the proxy forwarded from `address`."""
    return {**(headers or {}), "x-forwarded-for": address}


def forged(client: TestClient, address: str) -> int:
    return client.get("/preferences?token=forged", headers=via(address)).status_code


def test_unusable_links_are_limited_per_client_and_working_links_never(db_url):
    ana = profile(db_url, "ana@example.com")
    clock = Clock()
    with client_for(db_url, PROXIED, clock) as client:
        assert [forged(client, "203.0.113.7") for _ in range(BAD_LINK_FAILURES_BURST)] == [400] * BAD_LINK_FAILURES_BURST
        refused = client.post("/unsubscribe?token=forged", content=ONE_CLICK["content"],
                              headers=via("203.0.113.7", ONE_CLICK["headers"]))
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == str(math.ceil(BAD_LINK_FAILURE_REFILL_S))
        assert "Too many attempts from your address" in refused.text
        assert refused.headers["cache-control"] == "no-store"  # still behind the Guard

        # The same client's working links are served, however often.
        for _ in range(BAD_LINK_FAILURES_BURST + 1):
            assert client.get(f"/preferences?token={token(ana)}", headers=via("203.0.113.7")).status_code == 200
        unsubscribed = client.post(f"/unsubscribe?token={token(ana)}", content=ONE_CLICK["content"],
                                   headers=via("203.0.113.7", ONE_CLICK["headers"]))
        assert unsubscribed.status_code == 200
        assert rows(db_url, "SELECT kind, enabled FROM email_preferences") == [{"kind": "budget_alerts",
                                                                                  "enabled": False}]

        # Others are not affected, and a client cannot shed its address by sending
        # X-Forwarded-For itself: the proxy appends the one it saw, which counts.
        assert forged(client, "198.51.100.9") == 400
        assert forged(client, "198.51.100.9, 203.0.113.7") == 429

        # One failure's worth comes back every BAD_LINK_FAILURE_REFILL_S.
        clock.now += BAD_LINK_FAILURE_REFILL_S / 2
        refused = client.get("/preferences?token=forged", headers=via("203.0.113.7"))
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == str(math.ceil(BAD_LINK_FAILURE_REFILL_S / 2))
        clock.now += BAD_LINK_FAILURE_REFILL_S / 2
        assert [forged(client, "203.0.113.7") for _ in range(2)] == [400, 429]


def test_an_ipv6_client_is_its_64_network(db_url):
    with client_for(db_url, PROXIED, Clock()) as client:
        assert {forged(client, f"2001:db8::{n:x}") for n in range(BAD_LINK_FAILURES_BURST)} == {400}
        assert forged(client, "2001:db8::ffff:1") == 429  # the same /64
        assert forged(client, "2001:db8:0:1::1") == 400  # the next /64


def test_without_proxy_hops_x_forwarded_for_changes_nothing(db_url):
    with client_for(db_url, DIRECT, Clock()) as client:
        statuses = [forged(client, f"192.0.2.{n}") for n in range(BAD_LINK_FAILURES_BURST + 1)]
    assert statuses == [400] * BAD_LINK_FAILURES_BURST + [429]


def test_wrong_dashboard_tokens_are_limited_and_signed_in_sessions_never(db_url):
    clock = Clock()
    office, attacker = "192.0.2.10", "203.0.113.7"
    with client_for(db_url, PROXIED, clock) as client:
        signed_in = client.post("/dashboard", data={"action": "login", "token": TOKEN}, headers=via(office),
                                follow_redirects=False)
        assert signed_in.status_code == 303
        session = {"cookie": f"{COOKIE}={client.cookies[COOKIE]}"}
        client.cookies.clear()

        def sign_in(address: str, given: str) -> int:
            return client.post("/dashboard", data={"action": "login", "token": given}, headers=via(address),
                               follow_redirects=False).status_code

        # The form and a Bearer header spend the same failures.
        for n in range(DASHBOARD_FAILURES_BURST - 1):
            assert sign_in(attacker, f"guess-{n:016d}") == 401
        bearer = client.get("/dashboard", headers=via(attacker, {"authorization": "Bearer guess-bearer-0000"}))
        assert bearer.status_code == 401

        refused = client.post("/dashboard", data={"action": "login", "token": "guess-number-six"},
                              headers=via(attacker), follow_redirects=False)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == str(math.ceil(DASHBOARD_FAILURE_REFILL_S))
        assert "set-cookie" not in refused.headers
        # Out of failures, even the right token is not compared: otherwise the limit would not slow guessing.
        assert sign_in(attacker, TOKEN) == 429
        assert client.get("/dashboard", headers=via(attacker, {"authorization": f"Bearer {TOKEN}"})).status_code == 429
        # No credential, or another scheme, is no attempt: the sign-in form, not 429.
        assert client.get("/dashboard", headers=via(attacker)).status_code == 401
        assert client.get("/dashboard", headers=via(attacker, {"authorization": f"Basic {TOKEN}"})).status_code == 401
        # A session is never limited, whatever address it comes from; others sign in as usual.
        assert client.get("/dashboard", headers=via(attacker, session)).status_code == 200
        assert sign_in("198.51.100.9", TOKEN) == 303

        clock.now += DASHBOARD_FAILURE_REFILL_S
        assert sign_in(attacker, TOKEN) == 303


def test_a_limiter_refills_up_to_its_burst_and_keeps_at_most_max_clients():
    clock = Clock()
    limiter = FailureLimiter(burst=2, refill_s=60.0, max_clients=2, clock=clock)
    limiter.fail("a")
    limiter.fail("a")
    with pytest.raises(TooManyFailures) as refused:
        limiter.check("a")
    assert refused.value.retry_after_s == 60
    clock.now += 45
    with pytest.raises(TooManyFailures) as refused:
        limiter.check("a")
    assert refused.value.retry_after_s == 15
    clock.now += 3600  # a long quiet spell gives back `burst` failures, no more
    limiter.fail("a")
    limiter.fail("a")
    with pytest.raises(TooManyFailures):
        limiter.check("a")
    # Two clients fit: a third makes the limiter forget the one that failed least recently.
    limiter.fail("b")
    with pytest.raises(TooManyFailures):
        limiter.check("a")
    limiter.fail("c")
    limiter.check("a")  # forgotten, with its failures
    limiter.fail("b")
    with pytest.raises(TooManyFailures):
        limiter.check("b")  # remembered


def test_proxy_hops_setting():
    assert DIRECT.proxy_hops == 0 and PROXIED.proxy_hops == 1
    for bad in ("-1", "two", "6", "1.5", "²"):
        with pytest.raises(ConfigError, match="WEB_PROXY_HOPS"):
            WebSettings.from_env({**ENV, "WEB_PROXY_HOPS": bad})
