"""The web service (`cli.py web`): one-click unsubscribe, the preferences page and Resend webhooks.

    GET  /unsubscribe?token=T   a confirmation page: a button (the POST) and a link to the preferences
    POST /unsubscribe?token=T   RFC 8058 one-click (body List-Unsubscribe=One-Click) or that button:
                                the token's user stops getting the token's kind of email, at once
    GET  /preferences?token=T   the user's switches, a plain form that works without JavaScript
    POST /preferences?token=T   saves them
    POST /webhooks/resend       Svix-signed Resend events: recorded once each; permanent bounces and
                                complaints suppress the address for the sender
    GET  /dashboard             analytics for the team, behind DASHBOARD_TOKEN (web/dashboard.py)
    GET  /healthz               200 "ok" when the database answers, else 503 and a one-line reason

For the user pages, the signed token (wheels_core/tokens.py, the one the sender puts in every
List-Unsubscribe link) is the only credential: no cookies, no sessions, so no
cross-site request can act for anybody who does not hold the link. Every
unusable token, and a genuine one whose user is gone, gets the same 400 page,
and a client that sent too many of them gets 429 (web/limits.py) for the next.
Links in the pages are relative, so the service works under any path prefix
of UNSUBSCRIBE_BASE_URL.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from wheels_core import formats, kinds, tokens
from wheels_core.email_settings import EmailSettings
from web import dashboard, limits, webhooks
from web.guard import ForwardedClient, Guard
from web.store import Store, UnknownUser, WebStoreError
from wheels_core.errors import ConfigError, DatabaseUnavailable, WheelsError, one_line

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_PROXY_HOPS = 5

# The preference kinds, in page order: label, what each switch covers, and the emails in a sentence
# ("You will no longer get budget alert emails").
PREFERENCES = {
    "budget_alerts": ("Budget alerts", "When a budget category nears or passes its monthly limit.",
                      "budget alert emails"),
    "maintenance": ("Maintenance reminders", "When a vehicle's maintenance task is due soon or overdue.",
                    "maintenance reminder emails"),
    "daily_digest": ("Daily digest", "A morning summary of yesterday's spending, budgets and maintenance.",
                     "daily digest emails"),
}


@dataclass(frozen=True)
class WebSettings:
    email: EmailSettings  # the sender's own settings, so links and their verification agree
    webhook_secret: str | None  # RESEND_WEBHOOK_SECRET; None: the webhook answers 503
    dashboard_token: str | None = None  # DASHBOARD_TOKEN; None: /dashboard answers 404
    proxy_hops: int = 0  # WEB_PROXY_HOPS: proxies in front whose X-Forwarded-For is believed (web/guard.py)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, require_secret: bool = False) -> WebSettings:
        """UNSUBSCRIBE_SECRET (and the rest of EmailSettings), RESEND_WEBHOOK_SECRET, DASHBOARD_TOKEN and
        WEB_PROXY_HOPS; ConfigError when unusable."""
        render = EmailSettings.from_env(env, require_secret=require_secret)
        secret = env.get("RESEND_WEBHOOK_SECRET") or None
        token = env.get("DASHBOARD_TOKEN") or None
        if token is not None and (len(token) < dashboard.MIN_TOKEN_CHARS or token != token.strip()):
            raise ConfigError(f"DASHBOARD_TOKEN needs at least {dashboard.MIN_TOKEN_CHARS} characters and no "
                              "surrounding spaces (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
        hops = env.get("WEB_PROXY_HOPS") or "0"
        if not (hops.isascii() and hops.isdigit() and int(hops) <= MAX_PROXY_HOPS):
            raise ConfigError(f"WEB_PROXY_HOPS {hops!r} must be the number of proxies in front of the service "
                              f"that append to X-Forwarded-For, 0 to {MAX_PROXY_HOPS}")
        return cls(render, webhooks.check_secret(secret) if secret else None, token, int(hops))


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach a server bound to `host`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_TEMPLATES = Jinja2Templates(env=Environment(
    loader=PackageLoader("web", "templates"), autoescape=select_autoescape(default=True),
    undefined=StrictUndefined, auto_reload=False))
_TEMPLATES.env.filters["rate"] = formats.rate


def _page(request: Request, name: str, status_code: int = 200, **context) -> Response:
    return _TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


def create_app(store: Store, settings: WebSettings, *, clock: Callable[[], float] = time.monotonic) -> Starlette:
    """The ASGI application; `store` is opened and closed with it. `clock` times the failure limits."""
    bad_links = limits.FailureLimiter(limits.BAD_LINK_FAILURES_BURST, limits.BAD_LINK_FAILURE_REFILL_S, clock=clock)
    sign_ins = limits.FailureLimiter(limits.DASHBOARD_FAILURES_BURST, limits.DASHBOARD_FAILURE_REFILL_S, clock=clock)

    def holder(request: Request, *, page_token_too: bool = False) -> tuple[str, str, str]:
        """(token, user id, preference kind) of the request's token; BadToken when it is not usable.
        A token for the preferences page itself (the welcome email's) opens that page only."""
        token = request.query_params.get("token", "")
        user_id, kind = tokens.verify(token, settings.email.unsubscribe_secret)
        try:
            user_id = str(uuid.UUID(user_id))
        except (TypeError, ValueError, AttributeError):
            raise tokens.BadToken("unsubscribe token names no user") from None
        if kind not in PREFERENCES and not (page_token_too and kind == tokens.PREFERENCES_PAGE):
            raise tokens.BadToken(f"unsubscribe token names an unknown kind {kind!r}")
        return token, user_id, kind

    async def unsubscribe_page(request: Request) -> Response:
        token, _, kind = holder(request)
        return _page(request, "unsubscribe.html", token=token, emails=PREFERENCES[kind][2])

    async def unsubscribe(request: Request) -> Response:
        token, user_id, kind = holder(request)
        await run_in_threadpool(store.save_preferences, user_id, {kind: False})
        log.info("user %s unsubscribed from %s", user_id, kind, extra={"action": "unsubscribe"})
        return _page(request, "unsubscribed.html", token=token, emails=PREFERENCES[kind][2])

    async def preferences_page(request: Request, saved: bool = False) -> Response:
        token, user_id, _ = holder(request, page_token_too=True)
        enabled = await run_in_threadpool(store.preferences, user_id, list(PREFERENCES))
        switches = [(kind, label, help, enabled[kind]) for kind, (label, help, _) in PREFERENCES.items()]
        return _page(request, "preferences.html", token=token, switches=switches, saved=saved)

    async def save_preferences(request: Request) -> Response:
        _, user_id, _ = holder(request, page_token_too=True)
        form = await request.form()
        switches = {kind: form.get(kind) == "on" for kind in PREFERENCES}
        await run_in_threadpool(store.save_preferences, user_id, switches)
        log.info("user %s saved preferences %s", user_id, switches, extra={"action": "preferences"})
        return await preferences_page(request, saved=True)

    async def resend_webhook(request: Request) -> Response:
        if settings.webhook_secret is None:
            log.error("RESEND_WEBHOOK_SECRET is not set: refusing a webhook", extra={"action": "webhook_unconfigured"})
            return JSONResponse({"error": "webhooks are not configured"}, status_code=503)
        try:
            event = webhooks.verify(await request.body(), request.headers, settings.webhook_secret)
        except webhooks.BadWebhook as exc:
            log.warning("webhook rejected: %s", exc, extra={"action": "webhook_rejected"})
            return JSONResponse({"error": "invalid webhook"}, status_code=400)
        result = await run_in_threadpool(store.record_event, event)
        log.info("webhook %s %s: recorded=%s suppressed=%s", event.svix_id, event.type, result["recorded"],
                 result["suppressed"], extra={"action": "webhook"})
        return JSONResponse({"recorded": bool(result["recorded"]), "suppressed": result["suppressed"]})

    async def healthz(request: Request) -> Response:
        # For Render's health check (render.yaml): the reason names no host, role or error text.
        try:
            await run_in_threadpool(store.ping)
        except WheelsError as exc:
            log.warning("health check failed: %s", one_line(exc), extra={"action": "unhealthy"})
            return PlainTextResponse("database unavailable\n", status_code=503)
        return PlainTextResponse("ok\n")

    async def bad_link(request: Request, exc: Exception) -> Response:
        # One page for every reason, so a caller learns nothing about users.
        client = limits.client_of(request)
        try:
            bad_links.check(client)
        except limits.TooManyFailures as refused:
            return await too_many(request, refused)
        bad_links.fail(client)
        log.info("bad link: %s", exc, extra={"action": "bad_link"})
        return _page(request, "bad_link.html", status_code=400)

    async def too_many(request: Request, exc: limits.TooManyFailures) -> Response:
        log.warning("refused %s %s from %s: %s", request.method, request.url.path, limits.client_of(request), exc,
                    extra={"action": "rate_limited"})
        minutes = math.ceil(exc.retry_after_s / 60)
        answer = _page(request, "error.html", status_code=429,
                       message=f"Too many attempts from your address. Please try again in {minutes} "
                               f"minute{'s' if minutes > 1 else ''}.")
        answer.headers["retry-after"] = str(exc.retry_after_s)
        return answer

    async def unavailable(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable: %s", exc, extra={"action": "unavailable"})
        return _page(request, "error.html", status_code=503, message="Please try again in a few minutes.")

    async def failed(request: Request, exc: Exception) -> Response:
        log.error("request failed: %s", exc, extra={"action": "failed"})
        return _page(request, "error.html", status_code=500, message="Something went wrong on our side.")

    @asynccontextmanager
    async def lifespan(app: Starlette):
        store.open()
        try:
            yield
        finally:
            await run_in_threadpool(store.close)

    app = Starlette(
        routes=[
            Route("/unsubscribe", unsubscribe_page, methods=["GET"]),
            Route("/unsubscribe", unsubscribe, methods=["POST"]),
            Route("/preferences", preferences_page, methods=["GET"]),
            Route("/preferences", save_preferences, methods=["POST"]),
            Route("/webhooks/resend", resend_webhook, methods=["POST"]),
            *dashboard.routes(store, settings.dashboard_token, _page, sign_ins),
            Route("/healthz", healthz, methods=["GET"]),
            Mount("/static", StaticFiles(packages=[("web", "static")]), name="static"),
        ],
        exception_handlers={tokens.BadToken: bad_link, UnknownUser: bad_link, limits.TooManyFailures: too_many,
                            DatabaseUnavailable: unavailable, WebStoreError: failed},
        lifespan=lifespan,
    )
    app.add_middleware(Guard)
    if settings.proxy_hops:
        app.add_middleware(ForwardedClient, hops=settings.proxy_hops)
    return app


def serve(url: str, settings: WebSettings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run the service with uvicorn until SIGINT/SIGTERM.

    No access log: request lines carry tokens, which are credentials. No proxy headers from
    uvicorn (which would believe any loopback peer's): WEB_PROXY_HOPS decides (ForwardedClient).
    """
    store = Store(url)
    try:  # this code knows the database's email kinds (a mismatch: ConfigError, one line)
        kinds.check(store.email_kinds())
    except DatabaseUnavailable as exc:  # not yet: /healthz says so until it answers
        log.warning("action=database_unavailable at start: %s", exc, extra={"action": "database_unavailable"})
    uvicorn.run(create_app(store, settings), host=host, port=port, access_log=False, server_header=False,
                proxy_headers=False, log_config=None)
