"""Signed unsubscribe tokens: HMAC-SHA256 over (user, preference kind, issue time).

A token goes into the List-Unsubscribe URL of every optional email. The web
service that handles the click verifies it with the same secret and learns
which user wants to stop which preference kind (budget_alerts, maintenance,
daily_digest: wheels_core/kinds.py). Tokens are URL-safe
(base64url, no padding) and expire, so a leaked link stops working eventually.

The welcome email, which nobody unsubscribes from, links the preferences page
itself: its token is bound to PREFERENCES_PAGE, which opens that page and
unsubscribes from nothing (web/app.py refuses it at /unsubscribe).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

from wheels_core.errors import WheelsError
from wheels_core.kinds import KINDS, PREFERENCE_KINDS

# Bound to no preference kind: the preferences page only (the welcome email's link).
PREFERENCES_PAGE = "preferences"

MAX_AGE_S = 366 * 24 * 3600
# The sender dates a token by the intent's local "as of" day, which can be up to
# a day ahead of UTC for users east of it; such tokens still verify.
FUTURE_SKEW_S = 24 * 3600
# Domain separation: this secret may sign other things one day.
_CONTEXT = b"wheels-unsubscribe-v1\x00"


class BadToken(WheelsError):
    """An unsubscribe token that is malformed, forged, tampered with or expired."""


def preference_kind(kind: str) -> str:
    """The preference kind a token is bound to, from an email kind or a preference kind (or
    PREFERENCES_PAGE)."""
    if kind in PREFERENCE_KINDS or kind == PREFERENCES_PAGE:
        return kind
    if KINDS.get(kind) is None:
        raise ValueError(f"email kind {kind!r} has no preference to unsubscribe from")
    return KINDS[kind]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(payload: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, _CONTEXT + payload, hashlib.sha256).digest()


def sign(user_id: str, kind: str, secret: bytes, *, issued_at: int | None = None) -> str:
    """A token for `user_id` opting out of `kind` (an email kind or a preference kind)."""
    if not secret:
        raise ValueError("the unsubscribe secret is empty")
    issued = int(time.time()) if issued_at is None else int(issued_at)
    payload = json.dumps([user_id, preference_kind(kind), issued], separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(payload, secret))}"


def verify(token: str, secret: bytes, *, max_age_s: int = MAX_AGE_S, now_s: float | None = None) -> tuple[str, str]:
    """(user_id, preference kind) of a genuine token, unexpired at now_s (default: the clock); BadToken otherwise."""
    try:
        payload_part, mac_part = token.split(".")
        payload, mac = _unb64(payload_part), _unb64(mac_part)
    except (AttributeError, ValueError, binascii.Error):
        raise BadToken("unsubscribe token is malformed") from None
    if not hmac.compare_digest(mac, _mac(payload, secret)):
        raise BadToken("unsubscribe token signature does not match")
    user_id, pref, issued = json.loads(payload)
    age_s = (time.time() if now_s is None else now_s) - issued
    if age_s > max_age_s:
        raise BadToken(f"unsubscribe token expired {int(age_s - max_age_s)} s ago")
    if age_s < -FUTURE_SKEW_S:
        raise BadToken("unsubscribe token is issued in the future")
    return user_id, pref
