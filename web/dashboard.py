"""GET /dashboard: the analytics people can see (issue 8), behind DASHBOARD_TOKEN.

    GET  /dashboard   the page, for a request with `Authorization: Bearer <token>`
                      or the session cookie; otherwise 401 and a sign-in form
    POST /dashboard   the form: action=login (token) sets the cookie, action=logout clears it

Without DASHBOARD_TOKEN every request gets 404 and a page saying so: never
open. The cookie holds an HMAC of the token, not the token, is HttpOnly and
SameSite=Strict; every comparison is constant-time. A wrong token (the form or
a Bearer header) spends one of the client's failures (web/limits.py); with none
left, its sign-in attempts get 429 without the token being compared, right or
wrong, or the limit would not slow guessing. A valid cookie is always served.
The figures come from the rollups and count-only functions (web/store.py),
never from the raw PAM events, and name no user: charts are server-rendered
SVG (web/charts.py), each with a data table.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import Counter
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from web import charts, limits
from wheels_core import formats
from web.store import Store

log = logging.getLogger(__name__)

COOKIE = "wheels_dashboard"
COOKIE_MAX_AGE_S = 12 * 3600
MIN_TOKEN_CHARS = 16
# Intents drawn as their own colour; the rest of a day's events are "other".
TOP_INTENTS = 6
EMAIL_DAYS = 14  # as web/queries.sql's dashboard_emails selects


def session_value(token: str) -> str:
    """What the cookie holds: a MAC of the token, so the cookie never carries the token itself."""
    return hmac.new(token.encode(), b"wheels dashboard session v1", hashlib.sha256).hexdigest()


def signed_in(request: Request, token: str) -> bool:
    """The session cookie, compared in constant time."""
    return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), session_value(token).encode())


def bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, or None without one."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else None


def _percent(v: float) -> str:
    return f"{v:.0f}%"  # axis ticks: round numbers


def _ms(v: float) -> str:
    return f"{v:,.0f} ms"


def _every(width: int, wide: int, narrow: int) -> int:
    """Label every n-th x value: fewer on the phone-sized chart."""
    return wide if width == charts.WIDE else narrow


def view(figures: dict) -> dict:
    """The template's context: the success panel, engagement, charts and the tables they are drawn from."""
    hours = figures["hours"]
    hour_labels = [f"{h['hour']:%d %b %H:00}" for h in hours]
    axis_hours = [f"{h['hour']:%H}h\n{h['hour']:%d %b}" for h in hours]  # the date under each hour
    days = figures["days"]
    day_labels = [f"{d['day']:%d %b}" for d in days]

    totals = Counter()
    for d in days:
        totals.update(d["intents"])
    top = [name for name, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_INTENTS]]
    intents = {name: [d["intents"].get(name, 0) for d in days] for name in top}
    if len(totals) > len(top):
        intents["other"] = [sum(n for k, n in d["intents"].items() if k not in top) for d in days]

    today = days[-1]["day"] + timedelta(days=1)  # days end yesterday; email counts include today
    email_days = [today - timedelta(days=EMAIL_DAYS - 1 - i) for i in range(EMAIL_DAYS)]
    kinds = sorted({e["kind"] for e in figures["emails"]})
    by_day_kind = {(e["day"], e["kind"]): e for e in figures["emails"]}

    def per_day(kind: str, outcome: str) -> list[int]:
        return [by_day_kind[(day, kind)][outcome] if (day, kind) in by_day_kind else 0 for day in email_days]

    failures = {"dead-lettered": [sum(per_day(k, "dead_lettered")[i] for k in kinds) for i in range(len(email_days))],
                "suppressed": [sum(per_day(k, "suppressed")[i] for k in kinds) for i in range(len(email_days))]}
    email_labels = [f"{d:%d %b}" for d in email_days]
    success = figures["success"]
    engagement = [{**e, "week_label": f"{e['week']:%G-W%V}", "open_rate": formats.rate(e["open_rate"]),
                   "click_rate": formats.rate(e["click_rate"])} for e in figures["engagement"]]
    return {
        "success": success, "activated_at": success[0]["since"] if success else None,
        "engagement": engagement,
        "hours": hours, "hour_labels": hour_labels, "days": days, "day_labels": day_labels,
        "intent_series": intents, "emails": figures["emails"], "suppressions": figures["suppressions"],
        "queue": figures["queue"], "jobs": figures["jobs"],
        "chart_traffic": charts.responsive(lambda w: charts.line_chart(
            "PAM messages and responses per hour, last 48 hours (UTC)", axis_hours,
            {"messages": [h["messages"] for h in hours], "responses": [h["responses"] for h in hours]},
            width=w, label_every=_every(w, 6, 12), empty="no PAM events in the last 48 hours")),
        "chart_success": charts.responsive(lambda w: charts.line_chart(
            "PAM success rate per hour, last 48 hours (UTC)", axis_hours,
            {"success rate": [None if h["success_rate"] is None else float(h["success_rate"]) * 100 for h in hours]},
            width=w, y_max=100, y_format=_percent, label_every=_every(w, 6, 12),
            empty="no PAM responses in the last 48 hours")),
        "chart_latency": charts.responsive(lambda w: charts.line_chart(
            "PAM response time percentiles per hour, last 48 hours (UTC)", axis_hours,
            {p: [None if h[f"{p}_ms"] is None else float(h[f"{p}_ms"]) for h in hours] for p in ("p50", "p95", "p99")},
            width=w, y_format=_ms, label_every=_every(w, 6, 12), empty="no PAM responses in the last 48 hours")),
        "chart_intents": charts.responsive(lambda w: charts.bar_chart(
            "PAM events per intent per day, last 14 days (UTC)", day_labels, intents, width=w,
            label_every=_every(w, 2, 4), empty="no PAM events in the last 14 days")),
        "chart_emails": charts.responsive(lambda w: charts.bar_chart(
            "Emails sent per day by kind, last 14 days (UTC)", email_labels,
            {k: per_day(k, "sent") for k in kinds}, width=w, label_every=_every(w, 2, 4),
            empty="none sent in the last 14 days")),
        "chart_failures": charts.responsive(lambda w: charts.bar_chart(
            "Emails dead-lettered and suppressed per day, last 14 days (UTC)", email_labels, failures, width=w,
            label_every=_every(w, 2, 4), empty="none in the last 14 days")),
    }


def routes(store: Store, token: str | None, page, sign_ins: limits.FailureLimiter) -> list[Route]:
    """The /dashboard routes; `page(request, template, status_code, **context)` renders a template;
    wrong tokens spend `sign_ins` failures (TooManyFailures: 429 when none are left)."""

    def right(request: Request, given: str) -> bool:
        """Whether a sign-in attempt holds the token; TooManyFailures before comparing when the
        client has no failures left, and a wrong one spends a failure."""
        client = limits.client_of(request)
        sign_ins.check(client)
        if hmac.compare_digest(given.encode(), token.encode()):
            return True
        sign_ins.fail(client)
        log.warning("dashboard sign-in with a wrong token", extra={"action": "dashboard_denied"})
        return False

    def disabled(request: Request) -> Response:
        return page(request, "error.html", 404,
                    message="The dashboard is disabled: set DASHBOARD_TOKEN to switch it on.")

    def sign_in(request: Request, status_code: int = 401, wrong: bool = False) -> Response:
        answer = page(request, "dashboard_login.html", status_code, wrong=wrong)
        answer.headers["www-authenticate"] = 'Bearer realm="dashboard"'
        return answer

    async def show(request: Request) -> Response:
        if token is None:
            return disabled(request)
        given = bearer(request)
        if not signed_in(request, token) and (given is None or not right(request, given)):
            return sign_in(request)
        figures = await run_in_threadpool(store.dashboard)
        return page(request, "dashboard.html", 200, **view(figures))

    async def form(request: Request) -> Response:
        if token is None:
            return disabled(request)
        fields = await request.form()
        if fields.get("action") == "logout":
            answer = RedirectResponse("dashboard", status_code=303)
            answer.delete_cookie(COOKIE, httponly=True, samesite="strict")
            return answer
        if not right(request, str(fields.get("token", ""))):
            return sign_in(request, wrong=True)
        log.info("dashboard sign-in", extra={"action": "dashboard_login"})
        answer = RedirectResponse("dashboard", status_code=303)
        answer.set_cookie(COOKIE, session_value(token), max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="strict",
                          secure=request.url.scheme == "https")
        return answer

    return [Route("/dashboard", show, methods=["GET"]), Route("/dashboard", form, methods=["POST"])]
