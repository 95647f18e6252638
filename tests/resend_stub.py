"""A stand-in for the Resend API: a real HTTP server on 127.0.0.1 that the real SDK talks to.

Point the SDK (or ResendTransport) at `stub.url`. It serves `POST /emails` and
`POST /emails/batch` with Resend's response and error shapes
(`{"statusCode", "name", "message"}`), checks the Bearer key, keeps
Idempotency-Key semantics (same key and payload: the first answer again and
nothing re-sent; another payload: 409 invalid_idempotent_request; while the
first is in flight: 409 concurrent_idempotent_requests), validates batches
strictly or permissively (`x-batch-validation`), and rejects recipients at the
reserved `.invalid` top-level domain the way Resend rejects bad addresses.
An email over the size limit (Resend's 40 MB; `stub.max_email_bytes`) fails
the whole request in either mode, with a 422 naming it (`emails[3]: ...`).

Faults are scripted, in order, one per API request (`stub.script([Fault(500),
Fault.rate_limited(), Fault.slow(3)])`) or drawn at random
(`stub.fail_rate(0.1, seed=7)`); `stub.rate_limit(2)` enforces a real limit of
2 requests in any 1-second window, answering 429 with Resend's headers.
`stub.release()` ends slow answers early. `stub.go_down()` makes the API
unreachable (connections refused, as from a host whose service is down) until
`stub.come_back()`. `stub.accepted` lists every email it accepted,
`stub.requests` every API request.

Standalone: `python -m tests.resend_stub --port 8025 [--rate-limit 2] [--fail-rate 0.1]`;
`GET /_stub/stats` then returns what it accepted and saw, as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_API_KEY = "re_test_stub_key"
MAX_BATCH = 100
# Resend's documented limit per email (attachments included, after Base64). How it
# answers an oversized email in a permissive batch is not documented; the stand-in
# assumes the request-level answer of strict mode: 422, naming the email.
MAX_EMAIL_BYTES = 40 * 1000 * 1000
MAX_RECIPIENTS = 50
# How often the server loop checks for stop(): short, so tests tear down fast.
POLL_INTERVAL_S = 0.02

_NAMES = {400: "validation_error", 401: "missing_api_key", 403: "invalid_api_key", 404: "not_found",
          409: "invalid_idempotent_request", 422: "validation_error", 429: "rate_limit_exceeded",
          500: "application_error"}
_MESSAGES = {
    "validation_error": "We found an error with one or more fields in the request.",
    "missing_api_key": "Missing API key in the authorization header.",
    "invalid_api_key": "API key is invalid.",
    "not_found": "The requested endpoint does not exist.",
    "rate_limit_exceeded": "Too many requests. You can only make {limit} requests per second. "
                           "See rate limit response headers for more information.",
    "daily_quota_exceeded": "You have reached your daily email sending quota.",
    "monthly_quota_exceeded": "You have reached your monthly email sending quota.",
    "application_error": "An unexpected error occurred.",
    "internal_server_error": "An unexpected error occurred.",
    "invalid_idempotent_request": "Same idempotency key used with a different request payload.",
    "concurrent_idempotent_requests": "Same idempotency key used while original request is still in progress.",
}
_HTML_PAGE = b"<html><head><title>503 Service Temporarily Unavailable</title></head>" \
             b"<body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]+")
_BAD_TO = ("Invalid `to` field. The email address needs to follow the `email@example.com` "
           "or `Name <email@example.com>` format.")


@dataclass(frozen=True)
class Fault:
    """What the next API request gets instead of a normal answer.

    status >= 400 answers that error (JSON in Resend's shape, or an HTML page);
    status 200 with delay_s answers normally but late. delay_s always holds the
    request in flight. processed=True handles the request first (emails
    accepted, answer stored under its idempotency key) and then answers the
    error anyway: the provider did the work but the answer was lost.
    """

    status: int = 500
    name: str | None = None
    message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    html: bool = False
    delay_s: float = 0.0
    processed: bool = False

    @classmethod
    def rate_limited(cls, retry_after_s: int = 3, limit: int = 2, reset_s: int = 1) -> Fault:
        """429 with Resend's headers. retry-after and ratelimit-reset differ by default (and
        from the sender's first backoff, 1 s), so a test can tell which one a client obeyed."""
        return cls(429, "rate_limit_exceeded", _MESSAGES["rate_limit_exceeded"].format(limit=limit),
                   {"retry-after": str(retry_after_s), "ratelimit-limit": str(limit),
                    "ratelimit-remaining": "0", "ratelimit-reset": str(reset_s)})

    @classmethod
    def quota(cls, period: str = "daily", retry_after_s: int | None = None) -> Fault:
        headers = {} if retry_after_s is None else {"retry-after": str(retry_after_s)}
        return cls(429, f"{period}_quota_exceeded", headers=headers)

    @classmethod
    def unavailable(cls) -> Fault:
        """503 with an HTML body, as a load balancer in front of the API sends it."""
        return cls(503, html=True)

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        """A normal answer after delay_s (set it beyond the client's timeout)."""
        return cls(200, delay_s=delay_s)

    def body(self) -> dict:
        name = self.name or _NAMES.get(self.status, "internal_server_error")
        message = self.message or _MESSAGES.get(name, name.replace("_", " ")).format(limit=2)
        return {"statusCode": self.status, "name": name, "message": message}


@dataclass(frozen=True)
class AcceptedEmail:
    id: str
    to: tuple[str, ...]
    subject: str
    headers: Mapping[str, str]
    idempotency_key: str | None
    at: float  # time.monotonic() when accepted
    payload: Mapping

    @property
    def intent_id(self) -> int | None:
        value = self.headers.get("X-Wheels-Intent-Id")
        return int(value) if value else None


@dataclass(frozen=True)
class RequestRecord:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    status: int
    idempotency_key: str | None
    emails: int  # emails in the request body
    replayed: bool  # answered from the idempotency store


@dataclass
class _Stored:
    fingerprint: str
    done: bool = False
    status: int = 0
    body: object = None


def _address_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return _BAD_TO
    match = re.fullmatch(r"(?:[^<>]*<)?([^<>]*)>?", value.strip())
    address = match.group(1) if match else ""
    if not _ADDRESS.fullmatch(address) or address.lower().endswith(".invalid"):
        return _BAD_TO
    return None


def _email_problem(email: object) -> str | None:
    """Why Resend would refuse this email, or None."""
    if not isinstance(email, dict):
        return "Each email must be an object."
    if not isinstance(email.get("from"), str) or _address_problem(email["from"]):
        return "Invalid `from` field. The email address needs to follow the `email@example.com` " \
               "or `Name <email@example.com>` format."
    to = email.get("to")
    recipients = [to] if isinstance(to, str) else to
    if not isinstance(recipients, list) or not 1 <= len(recipients) <= MAX_RECIPIENTS:
        return "Missing `to` field." if not recipients else "Invalid `to` field."
    if any(_address_problem(r) for r in recipients):
        return _BAD_TO
    if not isinstance(email.get("subject"), str) or not email["subject"].strip():
        return "Missing `subject` field."
    if "\n" in email["subject"] or "\r" in email["subject"]:
        return "Invalid `subject` field. It must not contain line breaks."
    if not any(isinstance(email.get(k), str) for k in ("html", "text")):
        return "Missing `html` or `text` field."
    headers = email.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) and "\n" not in v and "\r" not in v
                                                for v in headers.values()):
        return "Invalid `headers` field."
    return None


class ResendStub:
    """The stand-in server; thread-safe; use as a context manager or start()/stop()."""

    def __init__(self, api_key: str = DEFAULT_API_KEY, port: int = 0):
        self.api_key = api_key
        self.max_email_bytes = MAX_EMAIL_BYTES  # a test may lower it
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._release = threading.Event()
        self._faults: deque[Fault] = deque()
        self._random: random.Random | None = None
        self._random_rate = 0.0
        self._random_faults: tuple[Fault, ...] = ()
        self._limit: int | None = None
        self._window: deque[float] = deque()
        self._keys: dict[str, _Stored] = {}
        self._accepted: list[AcceptedEmail] = []
        self._requests: list[RequestRecord] = []
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._server.stub = self
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()  # open client connections (keep-alive)
        self._reserve: socket.socket | None = None  # holds the port while the API is down
        self._down = False  # set by go_down(): a request arriving now is cut, not answered
        self._in_flight = 0  # requests being answered
        self._idle = threading.Condition(self._lock)  # notified as each one ends

    # -- life cycle --
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ResendStub:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL_INTERVAL_S,), name="resend-stub",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.release()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        if self._reserve is not None:
            self._reserve.close()

    def go_down(self) -> None:
        """Refuse every connection until come_back(): open keep-alive connections are cut, and
        the port is held by a bound socket that does not listen, so a client gets ECONNREFUSED
        (its request never leaves its machine) and nothing else can take the port meanwhile.
        Requests under way are answered first, and one arriving meanwhile is cut, so nothing is
        accepted once it returns."""
        if self._reserve is not None:
            return
        with self._lock:  # nothing is accepted once go_down() returns: no request starts, those under way end
            self._down = True
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=30)
        reserve = socket.socket(self._server.address_family, socket.SOCK_STREAM)
        reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserve.bind(self._server.server_address)  # beside the listening socket (both SO_REUSEPORT)
        self._server.shutdown()
        self._thread.join()
        self._server.socket.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._reserve = reserve

    def come_back(self) -> None:
        """Listen again on the same port, after go_down()."""
        reserve, self._reserve = self._reserve, None
        with self._lock:
            self._down = False
        if reserve is not None:
            reserve.listen(self._server.request_queue_size)
            self._server.socket = reserve
            self.start()

    def __enter__(self) -> ResendStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- scripting --
    def script(self, faults: Iterable[Fault]) -> None:
        """Answer the next API requests with these faults, one each, in order."""
        with self._lock:
            self._faults.extend(faults)

    def fail_rate(self, rate: float, seed: int | None = None, faults: Iterable[Fault] = (Fault(500),)) -> None:
        """After any scripted faults, answer this fraction of API requests with a fault drawn from `faults`."""
        with self._lock:
            self._random = random.Random(seed)
            self._random_rate = rate
            self._random_faults = tuple(faults)

    def rate_limit(self, per_s: int | None) -> None:
        """Admit at most per_s API requests in any 1-second window (None: no limit); others get 429."""
        with self._lock:
            self._limit = per_s
            self._window.clear()

    def release(self) -> None:
        """End every delay under way now (slow answers), so a test need not wait them out."""
        with self._lock:
            event, self._release = self._release, threading.Event()
        event.set()

    def _delay(self, seconds: float) -> None:
        with self._lock:
            event = self._release
        if seconds > 0 and not self._stopping.is_set():
            event.wait(seconds)

    def expire_idempotency_keys(self) -> None:
        """Forget every idempotency key, as Resend does after 24 hours."""
        with self._lock:
            self._keys.clear()

    # -- what happened --
    @property
    def accepted(self) -> list[AcceptedEmail]:
        with self._lock:
            return list(self._accepted)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    @property
    def in_flight(self) -> int:
        """Requests holding an idempotency key that have not been answered yet."""
        with self._lock:
            return sum(not stored.done for stored in self._keys.values())

    def wait_until(self, condition: Callable[[ResendStub], bool], timeout_s: float = 10.0) -> None:
        """Block until condition(stub) holds (e.g. `lambda s: len(s.accepted) >= 100`); TimeoutError after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while not condition(self):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Resend stand-in did not reach the condition within {timeout_s} s")
            time.sleep(0.005)

    def stats(self) -> dict:
        with self._lock:
            return {"accepted": [asdict(a) for a in self._accepted], "requests": [asdict(r) for r in self._requests]}

    # -- the API --
    def handle(self, path: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        """Status, extra headers and body for one API request; records it."""
        with self._lock:
            if self._down:  # it arrived as the API went down: the connection is cut (see _Server.handle_error)
                raise ConnectionAbortedError("the Resend stand-in is down")
            self._in_flight += 1
        try:
            return self._handle(path, headers, raw)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._idle.notify_all()

    def _handle(self, path: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        arrived = time.monotonic()
        key = headers.get("Idempotency-Key")
        emails, replayed = 0, False
        try:
            payload = json.loads(raw) if raw else None
            emails = len(payload) if isinstance(payload, list) else 1
        except ValueError:
            payload = None
        status, extra, body = self._answer(path, headers, payload, raw, key)
        if isinstance(body, _Replay):
            body, replayed = body.body, True
        data = _HTML_PAGE if body is None else json.dumps(body).encode()
        with self._lock:
            self._requests.append(RequestRecord(arrived, "POST", path, status, key, emails, replayed))
        return status, extra, data

    def _answer(self, path, headers, payload, raw, key):
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth == "Bearer " or auth == "Bearer None":
            return _error(Fault(401, "missing_api_key", "Missing API key in the authorization header."))
        if auth != f"Bearer {self.api_key}":
            return _error(Fault(401, "validation_error", "API key is invalid"))
        limited, rate_headers = self._admit()
        if limited is not None:
            return _error(limited)
        status, extra, body = self._serve(path, headers, payload, raw, key)
        return status, {**rate_headers, **extra}, body

    def _serve(self, path, headers, payload, raw, key):
        """The answer to an authenticated, admitted API request: faults, idempotency, then the work."""
        fault = self._next_fault()
        if fault is not None and fault.status >= 400 and not fault.processed:
            self._delay(fault.delay_s)
            return _error(fault)
        if payload is None:
            return _error(Fault(400, "validation_error", "Invalid JSON body."))
        if key is not None and not 1 <= len(key) <= 256:
            return _error(Fault(400, "invalid_idempotency_key", "The key must be between 1-256 chars."))
        stored = self._begin(key, path, raw)
        if stored is not None:
            return stored
        try:
            if fault is not None:
                self._delay(fault.delay_s)
            status, body = self._process(path, headers, payload, key)
        except BaseException:
            self._finish(key, None, None)
            raise
        self._finish(key, status, body)
        if fault is not None and fault.status >= 400:
            return _error(fault)
        return status, {}, body

    def _admit(self) -> tuple[Fault | None, dict[str, str]]:
        """(a 429, {}) when the real rate limit is exceeded, else (None, Resend's rate-limit headers)."""
        with self._lock:
            if self._limit is None:
                return None, {}
            now = time.monotonic()
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= self._limit:
                wait_s = max(1, math.ceil(self._window[0] + 1.0 - now))
                return Fault.rate_limited(retry_after_s=wait_s, limit=self._limit, reset_s=wait_s), {}
            self._window.append(now)
            return None, {"ratelimit-limit": str(self._limit), "ratelimit-remaining": str(self._limit - len(self._window)),
                          "ratelimit-reset": str(max(1, math.ceil(self._window[0] + 1.0 - now)))}

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            if self._random is not None and self._random.random() < self._random_rate:
                return self._random.choice(self._random_faults)
            return None

    def _begin(self, key, path, raw):
        """None to go ahead, or the answer owed to a key already seen."""
        if key is None:
            return None
        fingerprint = hashlib.sha256(path.encode() + b"\0" + raw).hexdigest()
        with self._lock:
            stored = self._keys.get(key)
            if stored is None:
                self._keys[key] = _Stored(fingerprint)
                return None
        if stored.fingerprint != fingerprint:
            return _error(Fault(409, "invalid_idempotent_request"))
        if not stored.done:
            return _error(Fault(409, "concurrent_idempotent_requests"))
        return stored.status, {}, _Replay(stored.body)

    def _finish(self, key, status, body) -> None:
        """Keep a success under its key; forget the key after a failure so it can be retried."""
        if key is None:
            return
        with self._lock:
            if status is not None and status < 300:
                self._keys[key] = _Stored(self._keys[key].fingerprint, True, status, body)
            else:
                self._keys.pop(key, None)

    def _process(self, path, headers, payload, key) -> tuple[int, dict]:
        if path == "/emails":
            problem = self._size_problem(payload) or _email_problem(payload)
            if problem:
                return 422, Fault(422, "validation_error", problem).body()
            return 200, {"id": self._accept(payload, key)}
        if not isinstance(payload, list) or not 1 <= len(payload) <= MAX_BATCH:
            return 422, Fault(422, "validation_error", f"The batch must hold 1 to {MAX_BATCH} emails.").body()
        oversized = {i: p for i, p in enumerate(map(self._size_problem, payload)) if p}
        if oversized:
            i, problem = next(iter(oversized.items()))
            return 422, Fault(422, "validation_error", f"emails[{i}]: {problem}").body()
        problems = {i: p for i, p in enumerate(map(_email_problem, payload)) if p}
        if headers.get("x-batch-validation", "strict") != "permissive":
            if problems:
                i, problem = next(iter(problems.items()))
                return 422, Fault(422, "validation_error", f"emails[{i}]: {problem}").body()
            return 200, {"data": [{"id": self._accept(e, key)} for e in payload]}
        data = [{"id": self._accept(e, key)} for i, e in enumerate(payload) if i not in problems]
        return 200, {"data": data, "errors": [{"index": i, "message": p} for i, p in problems.items()]}

    def _size_problem(self, email: object) -> str | None:
        size = len(json.dumps(email, ensure_ascii=False).encode())
        if size > self.max_email_bytes:
            return f"The email is {size} bytes, over the {self.max_email_bytes} bytes limit."
        return None

    def _accept(self, email: dict, key: str | None) -> str:
        email_id = str(uuid.uuid4())
        to = email["to"]
        record = AcceptedEmail(email_id, tuple([to] if isinstance(to, str) else to), email["subject"],
                               dict(email.get("headers") or {}), key, time.monotonic(), email)
        with self._lock:
            self._accepted.append(record)
        return email_id


@dataclass(frozen=True)
class _Replay:
    body: object


def _error(fault: Fault) -> tuple[int, dict[str, str], dict | None]:
    return fault.status, dict(fault.headers), None if fault.html else fault.body()


class _Server(ThreadingHTTPServer):
    allow_reuse_port = True  # go_down() reserves the port beside the listening socket

    def handle_error(self, request, client_address) -> None:
        """A client killed mid-request (chaos tests do that) is normal; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's session expects
    # Headers and body go out in separate writes; without this, Nagle's algorithm
    # meets the client's delayed ACK and every answer waits ~40 ms.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        with self.server.stub._lock:
            self.server.stub._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.stub._lock:
            self.server.stub._connections.discard(self.connection)
        super().finish()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path not in ("/emails", "/emails/batch"):
            self._send(404, {}, json.dumps(Fault(404).body()).encode())
            return
        status, headers, body = self.server.stub.handle(self.path, self.headers, raw)
        self._send(status, headers, body)

    def do_GET(self) -> None:
        if self.path == "/_stub/stats":
            self._send(200, {}, json.dumps(self.server.stub.stats()).encode())
        else:
            self._send(404, {}, json.dumps(Fault(404).body()).encode())

    def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        html = body == _HTML_PAGE
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if html else "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (a timeout test)

    def log_message(self, format: str, *args) -> None:
        pass  # stub.requests is the log


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.resend_stub", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--rate-limit", type=int, help="requests admitted per 1-second window")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="fraction of requests answered 500")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    stub = ResendStub(args.api_key, args.port)
    stub.rate_limit(args.rate_limit)
    if args.fail_rate:
        stub.fail_rate(args.fail_rate, args.seed)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with stub:
        print(f"RESEND_API_URL={stub.url} RESEND_API_KEY={stub.api_key}", flush=True)
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
