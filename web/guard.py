"""ASGI middleware in front of every route: a request body limit and security
headers (Guard), and the client's address behind trusted proxies (ForwardedClient).

The service only ever receives small forms and webhook events, so the whole
body is read (up to MAX_BODY_BYTES) before any route sees it; anything larger
is answered 413 without reaching the application.
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024

# No scripts, no frames, forms only to this service, styles from its own file.
# Tokens travel in URLs, so no page may leak its URL through a Referer or a cache.
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class Guard:
    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._refuse(send_with_headers, 413 if declared.isdigit() else 400)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._refuse(send_with_headers, 413)
                return
            if not message.get("more_body", False):
                break

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send_with_headers)

    @staticmethod
    async def _refuse(send: Send, status: int) -> None:
        text = b"request body too large\n" if status == 413 else b"bad request\n"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(text)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": text})


class ForwardedClient:
    """Behind `hops` proxies that each append the address they saw to X-Forwarded-For: the
    client is the address the outermost of them saw, and the scheme is X-Forwarded-Proto.

    Counting from the right, only what the operator's own proxies wrote is believed: the
    addresses a client puts in the header itself stay to the left. Without this middleware
    (WEB_PROXY_HOPS=0) the TCP peer is the client and the headers mean nothing.
    """

    def __init__(self, app: ASGIApp, hops: int) -> None:
        self.app = app
        self.hops = hops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            forwarded = [part.strip() for name, value in headers if name == b"x-forwarded-for"
                         for part in value.decode("latin-1").split(",")]
            chain = [*forwarded, scope["client"][0] if scope.get("client") else ""]
            claimed = chain[max(0, len(chain) - 1 - self.hops)]
            proto = [value.decode("latin-1").split(",")[-1].strip() for name, value in headers
                     if name == b"x-forwarded-proto"]
            scope = dict(scope)
            if _is_address(claimed):
                scope["client"] = (claimed, 0)
            if proto and proto[-1] in ("http", "https"):
                scope["scheme"] = proto[-1]
        await self.app(scope, receive, send)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
