"""Resend webhook deliveries: verify the Svix signature, then read the event.

Verification is the resend SDK's own (resend.Webhooks.verify: HMAC-SHA256 of
"{svix-id}.{svix-timestamp}.{raw body}" with the base64 secret after `whsec_`,
constant-time compare against every "v1,<base64>" in svix-signature, and a
timestamp at most 5 minutes from now either way). Redeliveries carry the same
svix-id; the database keeps one event per id (web/queries.sql record_event).
A signed body is still refused (BadWebhook, 400) when jsonb could not keep it
whole: nested past MAX_EVENT_DEPTH, non-finite numbers, NUL or lone surrogates.

Opens and clicks (email.opened, email.clicked: Resend sends them when open and
click tracking is on for the domain) measure engagement, never a person: of
those only the event, the email's id and the time are kept. No address, no
clicked URL (our links carry signed tokens), no IP address or user agent.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from datetime import datetime, timezone

import resend

from web.store import Event
from wheels_core.errors import ConfigError, WheelsError

SECRET_PREFIX = "whsec_"
# Resend's events nest 4 levels; the limit keeps the parser and jsonb far from their recursion limits.
MAX_EVENT_DEPTH = 32
# Engagement events: stored as the event, the email and the time only (engagement_payload).
ENGAGEMENT_EVENTS = ("email.opened", "email.clicked")


class BadWebhook(WheelsError):
    """A webhook delivery that is not a genuine, fresh, readable Resend event."""


def check_secret(secret: str) -> str:
    """RESEND_WEBHOOK_SECRET as Resend shows it (whsec_<base64>); ConfigError otherwise."""
    try:
        if secret.startswith(SECRET_PREFIX) and base64.b64decode(secret[len(SECRET_PREFIX):], validate=True):
            return secret
    except (binascii.Error, ValueError):
        pass
    raise ConfigError("RESEND_WEBHOOK_SECRET must be the signing secret Resend shows: whsec_ then base64")


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> Event:
    """The event of a genuine delivery (signature and timestamp checked); BadWebhook otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadWebhook("body is not UTF-8") from None
    svix_id = headers.get("svix-id", "")
    try:
        event = resend.Webhooks.verify({
            "payload": text,
            "headers": {"id": svix_id, "timestamp": headers.get("svix-timestamp", ""),
                        "signature": headers.get("svix-signature", "")},
            "webhook_secret": secret,
        })
    except ValueError as exc:
        raise BadWebhook(str(exc)) from None
    except RecursionError:  # the SDK's json.loads, after the signature matched
        raise BadWebhook(f"event nested deeper than {MAX_EVENT_DEPTH} levels") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise BadWebhook("event has no type")
    check_storable(event)
    return read_event(svix_id, event)


def check_storable(event: dict) -> None:
    """BadWebhook unless jsonb can keep `event` as it is: at most MAX_EVENT_DEPTH levels, finite
    numbers, text without NUL or lone surrogates. Iterative, so depth never recurses here."""
    pending: list[tuple[object, int]] = [(event, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_EVENT_DEPTH:
                raise BadWebhook(f"event nested deeper than {MAX_EVENT_DEPTH} levels")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
        elif isinstance(value, float) and not math.isfinite(value):
            raise BadWebhook(f"event holds the number {value}, which JSON cannot")
        elif isinstance(value, str) and not _storable_text(value):
            raise BadWebhook("event holds text with NUL or a lone surrogate")


def _storable_text(text: str) -> bool:
    if "\0" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_event(svix_id: str, event: dict) -> Event:
    """What record_event stores of a verified event; fields it lacks are None or empty."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    to = data.get("to")
    recipients = [r for r in (to if isinstance(to, list) else [to]) if isinstance(r, str) and r]
    email_id = data.get("email_id")
    email_id = email_id if isinstance(email_id, str) else None
    if event["type"] in ENGAGEMENT_EVENTS:
        event, recipients = engagement_payload(event["type"], email_id, event.get("created_at")), []
    return Event(svix_id=svix_id, type=event["type"], provider_message_id=email_id,
                 recipients=recipients, occurred_at=_timestamp(event.get("created_at")), payload=event,
                 suppress_reason=suppress_reason(event["type"], data))


def engagement_payload(event_type: str, email_id: str | None, created_at: object) -> dict:
    """What is kept of an open or a click: the event, the email and the time. A click's data
    (the URL, which holds a signed token, the reader's IP address and user agent) and the
    recipient are dropped before anything is stored."""
    return {"type": event_type, "created_at": created_at if isinstance(created_at, str) else None,
            "data": {"email_id": email_id}}


def suppress_reason(event_type: str, data: dict) -> str | None:
    """Why the recipients must never be mailed again, or None: a permanent bounce, a
    complaint, or Resend itself refusing the address (it is on Resend's suppression list)."""
    if event_type == "email.bounced":
        bounce = data.get("bounce") if isinstance(data.get("bounce"), dict) else {}
        if bounce.get("type") == "Permanent":
            return f"bounce: {bounce.get('subType') or 'permanent'}"
        return None
    if event_type == "email.complained":
        return "complaint"
    if event_type == "email.suppressed":
        return "suppressed by the provider"
    return None


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace(" ", "T"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return None
