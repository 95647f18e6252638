"""Where rendered emails go: the Resend API (official SDK) or an outbox folder.

A transport sends one batch and answers per email (Accepted / Rejected), or
raises one of the errors below for the batch as a whole; the drain loop decides
what each error means for the intents (retry, pause, dead-letter, stop).
"""

from __future__ import annotations

import email.policy
import email.utils
import logging
import os
import re
import ssl
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import requests
import resend
import urllib3
from resend.exceptions import NoContentError, ResendError
from urllib3.exceptions import NewConnectionError
from urllib3.util.ssl_match_hostname import CertificateError

from sender.render import Email
from wheels_core.errors import WheelsError

log = logging.getLogger(__name__)

RESEND_API_URL = "https://api.resend.com"
RESEND_MAX_BATCH = 100
DEFAULT_TIMEOUT_S = 10.0
OUTBOX_MAX_BATCH = 100


@dataclass(frozen=True)
class Accepted:
    provider_id: str


@dataclass(frozen=True)
class Rejected:
    reason: str


class TransportError(WheelsError):
    """The provider did not take the batch; the subclass says what to do about it."""


class RetryLater(TransportError):
    """A transient failure (a concurrent idempotent request, an answer that does not add up): retry with the same key."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProviderDown(RetryLater):
    """The provider is failing (5xx, timeout, no usable answer): every sender backs off; it may have taken the batch."""


class Unreachable(ProviderDown):
    """The request never left this machine (connection refused, DNS, TLS handshake, connect timeout): not sent."""


class RateLimited(RetryLater):
    """The provider's request rate was exceeded: wait retry_after_s, and keep under limit_per_s."""

    def __init__(self, message: str, retry_after_s: float | None = None, limit_per_s: float | None = None):
        super().__init__(message, retry_after_s)
        self.limit_per_s = limit_per_s


class QuotaExhausted(TransportError):
    """The daily or monthly email quota is used up: pause all sending for resume_after_s, burn no attempts."""

    def __init__(self, message: str, resume_after_s: float):
        super().__init__(message)
        self.resume_after_s = resume_after_s


class BatchRejected(TransportError):
    """The provider refused the request itself (400/422, reused idempotency key); nothing of it was sent.

    index: the one email of the batch the refusal names (the others may go without it), or None: all of them.
    """

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.index = index


class InvalidCredentials(TransportError):
    """The API key is missing, wrong or not allowed to send (401/403): stop the process, lose nothing."""


class Transport(Protocol):
    name: str
    max_batch: int

    def send_batch(self, emails: list[Email], idempotency_key: str) -> list[Accepted | Rejected]:
        """One result per email, same order; or raise a TransportError for the whole batch."""
        ...


# -- Resend --------------------------------------------------------------------

class _SessionClient(resend.HTTPClient):
    """The SDK's documented HTTP-client hook: a keep-alive session with our timeout.

    The SDK turns any exception raised here into ResendError(code=500, "HttpClientError"),
    so the client keeps what it knows: `not_sent` says why the last request cannot have
    left this machine, or is None (it may have reached the provider).
    """

    def __init__(self, timeout_s: float):
        self._timeout_s = timeout_s
        self._session = requests.Session()
        self.not_sent: str | None = None

    def request(self, method, url, headers, json=None, files=None, data=None):
        self.not_sent = None
        try:
            resp = self._session.request(method, url, headers=headers, json=json, files=files, data=data,
                                         timeout=self._timeout_s)
        except requests.RequestException as exc:
            self.not_sent = _not_sent(exc)
            raise
        return resp.content, resp.status_code, resp.headers


def _not_sent(exc: requests.RequestException) -> str | None:
    """Why a failed request cannot have left this machine; None when it may have reached the provider.

    requests wraps urllib3's error (MaxRetryError.reason): no connection means no
    request. A TLS error counts only when the handshake raised it; later ones (an
    EOF while reading the answer) may follow a request the provider received.
    A read timeout or a dropped connection is never "not sent".
    """
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NewConnectionError):  # refused, unreachable, DNS (NameResolutionError)
        # "HTTPConnection(host=..., port=...): Failed to establish a new connection: [Errno 111] Connection refused"
        text = " ".join(str(reason).split())
        return text.partition("): ")[2] or text
    if isinstance(reason, urllib3.exceptions.SSLError) and _in_tls_handshake(reason):
        return "TLS handshake failed: " + " ".join(str(reason).split())
    return None


def _in_tls_handshake(error: urllib3.exceptions.SSLError) -> bool:
    """Whether the ssl error urllib3 wraps was raised by the handshake (ssl raises those in do_handshake only)."""
    for cause in error.args:
        if isinstance(cause, CertificateError):  # urllib3's host name check, right after the handshake
            return True
        if isinstance(cause, ssl.SSLError):
            frames = cause.__traceback__
            while frames is not None:
                if frames.tb_frame.f_code.co_name == "do_handshake":
                    return True
                frames = frames.tb_next
    return False


def _seconds(value: str | None) -> float | None:
    """A delta-seconds header value; None when absent or not a number."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def _limit_per_s(headers: Mapping[str, str]) -> float | None:
    """Requests per second from ratelimit-limit, over the ratelimit-policy window (`N;w=S`) when given."""
    limit = _seconds(headers.get("ratelimit-limit"))
    if not limit:
        return None
    window_s = 1.0
    for param in headers.get("ratelimit-policy", "").split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key == "w" and _seconds(value):
            window_s = float(value)
    return limit / window_s


def _until_next_utc_midnight_s() -> float:
    now = datetime.now(timezone.utc)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
    return (midnight - now).total_seconds()


def _translate(exc: ResendError) -> TransportError:
    """The project error for a failed Resend call (the SDK's header names keep the server's case)."""
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    try:
        status = int(exc.code)
    except (TypeError, ValueError):
        status = 500
    name = exc.error_type or "unknown"
    message = f"Resend {status} {name}: {' '.join(str(exc.message).split())}"
    retry_after_s = _seconds(headers.get("retry-after"))
    reset_s = _seconds(headers.get("ratelimit-reset"))
    if status == 429 and name in ("daily_quota_exceeded", "monthly_quota_exceeded"):
        # ratelimit-reset describes the per-second window, not the quota. Without a
        # retry-after, look again at the next UTC midnight (daily quotas reset then; a
        # monthly one resets on the billing day, which one cheap probe a day finds).
        return QuotaExhausted(message, retry_after_s if retry_after_s is not None else _until_next_utc_midnight_s())
    if status == 429:
        return RateLimited(message, retry_after_s if retry_after_s is not None else reset_s, _limit_per_s(headers))
    if status in (401, 403):
        return InvalidCredentials(message)
    if status == 409 and name == "concurrent_idempotent_requests":
        return RetryLater(message, retry_after_s)
    if status in (400, 422):
        return BatchRejected(message, _email_index(str(exc.message)))
    if status in (409, 451):
        return BatchRejected(message)
    # 5xx, timeouts and connection errors (the SDK reports those as 500), and the odd
    # 404/405/408 of a proxy in the way: the provider is failing as far as we can tell.
    return ProviderDown(message, retry_after_s)


# How a validation error names one email of a batch: the stand-in (tests/resend_stub.py)
# says `emails[3]: ...`; Resend's messages name fields by path (`request.body`), so
# `body[3]` and "index 3" are read too. Resend does not document the shape (strict
# mode "returns only the validation error causing the failure"): an assumption.
_EMAIL_INDEX = re.compile(r"\b(?:emails|body)\[(\d+)\]|\bindex:? (\d+)\b")


def _email_index(message: str) -> int | None:
    """The batch index a refusal names, when it names exactly one."""
    found = {int(a or b) for a, b in _EMAIL_INDEX.findall(message)}
    return found.pop() if len(found) == 1 else None


# The SDK keeps its key, base URL and HTTP client in module globals, read on every
# call: calls through it are serialised per process so each sees its own settings.
_SDK_LOCK = threading.Lock()


class ResendTransport:
    """The Resend batch endpoint through the official SDK, permissive validation, one idempotency key per batch."""

    name = "resend"
    max_batch = RESEND_MAX_BATCH

    def __init__(self, api_key: str, api_url: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S):
        self._api_key = api_key
        self._api_url = (api_url or RESEND_API_URL).rstrip("/")
        self._client = _SessionClient(timeout_s)
        # The latest requests-per-second limit the API reported (ratelimit-limit on any
        # answer), so a rate limiter can follow a raised or lowered team limit.
        self.reported_limit_per_s: float | None = None

    def send_batch(self, emails: list[Email], idempotency_key: str) -> list[Accepted | Rejected]:
        if not emails:
            return []
        if len(emails) > self.max_batch:
            raise ValueError(f"a Resend batch holds at most {self.max_batch} emails, got {len(emails)}")
        params = [_resend_params(e) for e in emails]
        options: resend.Batch.SendOptions = {"idempotency_key": idempotency_key, "batch_validation": "permissive"}
        with _SDK_LOCK:
            resend.api_key, resend.api_url, resend.default_http_client = self._api_key, self._api_url, self._client
            try:
                response = resend.Batch.send(params, options)
            except ResendError as exc:
                if self._client.not_sent:
                    raise Unreachable(f"Resend unreachable ({self._client.not_sent})") from None
                error = _translate(exc)
                if isinstance(error, RateLimited) and error.limit_per_s:
                    self.reported_limit_per_s = error.limit_per_s
                raise error from None
            except NoContentError:
                raise ProviderDown("Resend answered with an empty body") from None
        headers = {k.lower(): v for k, v in (response.get("http_headers") or {}).items()}
        self.reported_limit_per_s = _limit_per_s(headers) or self.reported_limit_per_s
        return _results(response, len(emails))


def _resend_params(e: Email) -> dict:
    params = {"from": e.from_, "to": [e.to], "subject": e.subject, "html": e.html, "text": e.text}
    if e.headers:
        params["headers"] = e.headers
    return params


def _results(response: Mapping, count: int) -> list[Accepted | Rejected]:
    """Per-email results of a permissive batch: `errors` name failed indexes, `data` ids the rest in order."""
    errors = {}
    for error in response.get("errors") or []:
        errors[error.get("index")] = " ".join(str(error.get("message", "rejected")).split())
    ids = [item.get("id") for item in response.get("data") or []]
    if not set(errors) <= set(range(count)) or len(ids) + len(errors) != count or not all(ids):
        raise RetryLater(f"Resend answered {len(ids)} ids and {len(errors)} errors for {count} emails")
    accepted = iter(ids)
    return [Rejected(f"Resend: {errors[i]}") if i in errors else Accepted(next(accepted)) for i in range(count)]


# -- outbox --------------------------------------------------------------------

class OutboxTransport:
    """Each email becomes `<intent_id>.eml` (RFC 5322) in a folder; an intent already there is not written again."""

    name = "outbox"
    max_batch = OUTBOX_MAX_BATCH

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def send_batch(self, emails: list[Email], idempotency_key: str) -> list[Accepted | Rejected]:
        results: list[Accepted | Rejected] = []
        for e in emails:
            try:
                results.append(self._write(e))
            except ValueError as exc:  # the email package refuses a malformed header
                results.append(Rejected(f"outbox: {' '.join(str(exc).split())}"))
            except OSError as exc:
                raise RetryLater(f"outbox: cannot write to {self.folder}: {exc.strerror or exc}") from None
        return results

    def _write(self, e: Email) -> Accepted:
        filename = f"{e.intent_id}.eml"
        final = self.folder / filename
        if not final.exists():
            raw = as_message(e).as_bytes()
            # Written under a hidden name, then linked into place: readers never see half
            # a file, and when two senders race the first link wins and the other is a no-op.
            fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".tmp", dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(raw)
                try:
                    os.link(tmp, final)
                except FileExistsError:
                    pass
            finally:
                os.unlink(tmp)
        return Accepted(f"outbox:{filename}")


# RFC 5322's hard line limit: long header values (the unsubscribe URL) stay plain
# text instead of being turned into encoded words by folding at 78 characters.
_EML_POLICY = email.policy.default.clone(max_line_length=998)


def as_message(e: Email) -> EmailMessage:
    """The email as an RFC 5322 message: text and HTML alternatives, all headers."""
    msg = EmailMessage(policy=_EML_POLICY)
    msg["From"] = e.from_
    msg["To"] = e.to
    msg["Subject"] = e.subject
    msg["Date"] = email.utils.formatdate(usegmt=True)
    domain = email.utils.parseaddr(e.from_)[1].rpartition("@")[2] or "wheels.local"
    msg["Message-ID"] = f"<intent-{e.intent_id}@{domain}>"
    msg["X-Wheels-Kind"] = e.kind
    for key, value in e.headers.items():
        msg[key] = value
    msg.set_content(e.text)
    msg.add_alternative(e.html, subtype="html")
    return msg


def transport_from_env(env: Mapping[str, str] = os.environ, *, outbox_dir: Path | None = None) -> Transport:
    """Resend when RESEND_API_KEY is set (RESEND_API_URL respected), else the outbox folder (default ./outbox)."""
    api_key = env.get("RESEND_API_KEY")
    if api_key:
        return ResendTransport(api_key, env.get("RESEND_API_URL") or None)
    return OutboxTransport(outbox_dir if outbox_dir is not None else Path("outbox"))
