"""Email intents (docs/INTENTS.md, v1) to ready-to-send emails.

`render` takes whatever the queue handed over, checks it against the v1
contract and renders the kind's templates (sender/templates/<kind>.html and
.txt, Jinja2 with autoescaped HTML and StrictUndefined). Anything that can never
become an email raises BadIntent with a one-line reason naming the problem, for
the dead-letter store. User-supplied text (names, categories, titles, vehicles)
is collapsed to one line of printable text before it reaches any template, so
it cannot break a header or the subject; HTML escaping does the rest.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import urlencode, urlsplit

from babel.numbers import format_currency
from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateError, select_autoescape

from wheels_core import formats, tokens
from wheels_core.addresses import CONTROL_CHARACTERS, address_problem
from wheels_core.email_settings import EmailSettings
from wheels_core.errors import WheelsError
from wheels_core.kinds import KINDS, WITHOUT_UNSUBSCRIBE

log = logging.getLogger(__name__)

VERSION = 1
# Measured on the JSON text as PostgreSQL prints jsonb (the sender's read query gates on the same).
MAX_INTENT_BYTES = 256 * 1024
# intent_id is a wheels.email_ledger.id; integer fields go into bigint arithmetic at most.
MAX_BIGINT = 2**63 - 1
MAX_SUBJECT_CHARS = 200
INTENT_HEADER = "X-Wheels-Intent-Id"
# Longer user text is cut (with an ellipsis) so no field can swamp an email.
MAX_TEXT_CHARS = 200



SUBJECTS = {
    "welcome": "Welcome to Wheels{% if name %}, {{ name }}{% endif %}",
    "budget_warning": "{{ data.category }}: {{ data.percent | percent }} of your {{ data.month | month }} budget used",
    "over_budget": "{{ data.category }} is over budget for {{ data.month | month }}",
    "maintenance_reminder": "{{ data.title }}{% if data.vehicle %} for {{ data.vehicle }}{% endif %}"
    " is due {{ data.days_left | in_days }}",
    "maintenance_overdue": "{{ data.title }}{% if data.vehicle %} for {{ data.vehicle }}{% endif %}"
    " is {{ data.days_overdue | days }} overdue",
    "daily_digest": "Your Wheels summary for {{ data.day | long_date }}",
    "daily_report": "Wheels daily report for {{ data.day | long_date }}: {{ data.messages }} PAM messages",
}


class BadIntent(WheelsError):
    """An intent that can never be rendered or sent; dead-letter it with this one-line reason."""


@dataclass(frozen=True)
class Email:
    """A rendered email; the same intent always renders to an equal Email."""

    intent_id: int
    kind: str
    user_id: str | None  # canonical UUID text
    to: str  # a bare addr-spec, no display name
    from_: str
    subject: str  # one trimmed line, at most MAX_SUBJECT_CHARS
    html: str
    text: str
    headers: dict[str, str]  # X-Wheels-Intent-Id; List-Unsubscribe(-Post) but for WITHOUT_UNSUBSCRIBE


# -- validation ----------------------------------------------------------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_CURRENCY = re.compile(r"[A-Z]{3}")


def _show(value: object) -> str:
    """A short, one-line rendering of a bad value for an error message."""
    try:
        text = repr(value)
    except ValueError:  # an integer of more digits than Python converts to text
        return "a number too long to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: object) -> str:
    return "null" if value is None else {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, (int, float)) else type(value).__name__)


def clean_text(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    """User text as one trimmed line: controls and line breaks become spaces, runs collapse, long text is cut."""
    text = " ".join(CONTROL_CHARACTERS.sub(" ", value).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class _Check:
    """Field checks that raise BadIntent prefixed with the intent they belong to."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def fail(self, problem: str) -> BadIntent:
        return BadIntent(f"{self.prefix}{problem}")

    def get(self, obj: dict, key: str, where: str) -> object:
        if key not in obj:
            raise self.fail(f"missing field '{where}{key}'")
        return obj[key]

    def text(self, obj: dict, key: str, where: str = "", *, nullable: bool = False) -> str | None:
        value = self.get(obj, key, where)
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise self.fail(f"field '{where}{key}' must be a string, got {_type_name(value)}")
        text = clean_text(value)
        if not text:
            if nullable:
                return None
            raise self.fail(f"field '{where}{key}' is empty")
        return text

    def number(self, obj: dict, key: str, where: str = "", *, nullable: bool = False) -> float | None:
        value = self.get(obj, key, where)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"field '{where}{key}' must be a number, got {_show(value)}")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an integer beyond any float: no template could format it
            finite = False
        if not finite:
            raise self.fail(f"field '{where}{key}' must be a finite number, got {_show(value)}")
        return value

    def integer(self, obj: dict, key: str, where: str = "") -> int:
        value = self.get(obj, key, where)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"field '{where}{key}' must be an integer, got {_show(value)}")
        if not -MAX_BIGINT - 1 <= value <= MAX_BIGINT:
            raise self.fail(f"field '{where}{key}' is out of range (a bigint), got {_show(value)}")
        return value

    def day(self, obj: dict, key: str, where: str = "") -> date:
        value = self.get(obj, key, where)
        try:
            if isinstance(value, str) and _DATE.fullmatch(value):
                return date.fromisoformat(value)
        except ValueError:
            pass
        raise self.fail(f"field '{where}{key}' must be a date YYYY-MM-DD, got {_show(value)}")

    def month(self, obj: dict, key: str, where: str = "") -> date:
        value = self.get(obj, key, where)
        if not (isinstance(value, str) and _MONTH.fullmatch(value)):
            raise self.fail(f"field '{where}{key}' must be a month YYYY-MM, got {_show(value)}")
        return date.fromisoformat(value + "-01")

    def obj(self, obj: dict, key: str, where: str = "") -> dict:
        value = self.get(obj, key, where)
        if not isinstance(value, dict):
            raise self.fail(f"field '{where}{key}' must be an object, got {_type_name(value)}")
        return value

    def items(self, obj: dict, key: str, where: str = "") -> list[dict]:
        value = self.get(obj, key, where)
        if not isinstance(value, list):
            raise self.fail(f"field '{where}{key}' must be an array, got {_type_name(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.fail(f"field '{where}{key}[{i}]' must be an object, got {_type_name(item)}")
        return value


def _budget(c: _Check, d: dict, where: str = "data.") -> dict:
    return {"category": c.text(d, "category", where), "spent": c.number(d, "spent", where),
            "limit": c.number(d, "limit", where), "percent": c.number(d, "percent", where)}


def _currency(d: dict) -> str | None:
    """The amounts' ISO 4217 code, optional: anything else shows plain amounts (`source check`
    reports the user's setting) rather than costing the user the email."""
    value = d.get("currency")
    return value if isinstance(value, str) and _CURRENCY.fullmatch(value) else None


def _data(c: _Check, kind: str, d: dict) -> dict:
    """The kind's data, checked, with user text cleaned and dates parsed."""
    if kind == "welcome":
        # The UTC day of sign-up dates the preferences link; absent from intents queued before it was added.
        return {"day": c.day(d, "day", "data.") if "day" in d else None}
    if kind in ("budget_warning", "over_budget"):
        return {**_budget(c, d), "month": c.month(d, "month", "data."), "currency": _currency(d)}
    if kind in ("maintenance_reminder", "maintenance_overdue"):
        counter = "days_left" if kind == "maintenance_reminder" else "days_overdue"
        return {"title": c.text(d, "title", "data."), "vehicle": c.text(d, "vehicle", "data.", nullable=True),
                "due_date": c.day(d, "due_date", "data."), counter: c.integer(d, counter, "data.")}
    if kind == "daily_report":
        return _report(c, d)
    # daily_digest
    spending = c.items(d, "spending", "data.")
    budgets = c.items(d, "budgets", "data.")
    maintenance = c.items(d, "maintenance", "data.")
    pam = c.obj(d, "pam", "data.")
    return {
        "day": c.day(d, "day", "data."),
        "currency": _currency(d),
        "spending": [{"category": c.text(s, "category", f"data.spending[{i}]."),
                      "amount": c.number(s, "amount", f"data.spending[{i}].")} for i, s in enumerate(spending)],
        "budgets": [_budget(c, b, f"data.budgets[{i}].") for i, b in enumerate(budgets)],
        "maintenance": [{"title": c.text(m, "title", f"data.maintenance[{i}]."),
                         "vehicle": c.text(m, "vehicle", f"data.maintenance[{i}].", nullable=True),
                         "due_date": c.day(m, "due_date", f"data.maintenance[{i}].")}
                        for i, m in enumerate(maintenance)],
        "pam": {"messages": c.integer(pam, "messages", "data.pam.")},
    }


def _report(c: _Check, d: dict) -> dict:
    """daily_report's data: the figures of wheels.daily_figures (docs/INTENTS.md)."""
    where = "data."
    counts = {key: c.integer(d, key, where)
              for key in ("messages", "responses", "distinct_users", "successes", "failures")}
    rates = {key: c.number(d, key, where, nullable=True) for key in ("success_rate", "p50_ms", "p95_ms", "p99_ms")}
    intents = c.items(d, "top_intents", where)
    emails = c.items(d, "emails", where)
    # Absent from reports queued before the success metrics (sql/0006_success.sql).
    success = c.items(d, "success", where) if "success" in d else []
    return {
        "day": c.day(d, "day", where), **counts, **rates,
        "activated_at": c.text(d, "activated_at", where, nullable=True) if "activated_at" in d else None,
        "success": [{**{key: c.text(m, key, f"data.success[{i}].") for key in ("metric", "label", "checkpoint", "shown")},
                     **{key: c.text(m, key, f"data.success[{i}].", nullable=True)
                        for key in ("status", "target_shown", "note")}}
                    for i, m in enumerate(success)],
        "top_intents": [{"intent": c.text(t, "intent", f"data.top_intents[{i}]."),
                         "count": c.integer(t, "count", f"data.top_intents[{i}].")} for i, t in enumerate(intents)],
        "emails": [{"kind": c.text(e, "kind", f"data.emails[{i}]."),
                    **{key: c.integer(e, key, f"data.emails[{i}].") for key in ("sent", "dead_lettered", "suppressed")}}
                   for i, e in enumerate(emails)],
    }


def _size(message: object) -> int:
    try:
        text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
        return len(text.encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise BadIntent(f"message is not plain JSON: {type(exc).__name__}") from None


# -- rendering -----------------------------------------------------------------

def _money(value: float, currency: str | None = None) -> str:
    """1,234.50, or in the user's currency as CLDR writes it: A$1,234.50, $1,234.50 (USD), €1,234.50."""
    return format_currency(value, currency, locale="en") if currency else f"{value:,.2f}"


def _long_date(value: date) -> str:
    return f"{value:%A} {value.day} {value:%B %Y}"


def _days(n: int) -> str:
    return "1 day" if abs(n) == 1 else f"{abs(n)} days"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"


def _in_days(n: int) -> str:
    return "today" if n <= 0 else "tomorrow" if n == 1 else f"in {n} days"


# HTML files are autoescaped; text files and subject strings are not (they are not
# markup). auto_reload=False: templates ship with the package, so no stat() per render.
_ENV = Environment(
    loader=PackageLoader("sender", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, auto_reload=False,
)
_ENV.filters.update(money=_money, percent=formats.percent, long_date=_long_date, days=_days, in_days=_in_days, ms=_ms,
                    month=lambda d: f"{d:%B %Y}")
_SUBJECTS = {kind: _ENV.from_string(source) for kind, source in SUBJECTS.items()}


def _as_of(kind: str, data: dict) -> date:
    """The day an intent's fact was observed, derived from its data alone."""
    if kind in ("budget_warning", "over_budget"):
        return data["month"]
    if kind == "maintenance_reminder":
        return data["due_date"] - timedelta(days=data["days_left"])
    if kind == "maintenance_overdue":
        return data["due_date"] + timedelta(days=data["days_overdue"])
    return data["day"]


def unsubscribe_url(user_id: str, kind: str, issued: date, settings: EmailSettings) -> str:
    """The one-click unsubscribe link; its token is dated `issued` (midnight UTC).

    Dating tokens by the intent rather than the clock makes rendering
    deterministic: a batch re-sent after a crash carries byte-identical emails,
    which the provider's idempotency check requires.
    """
    return _with_token(settings.unsubscribe_base_url, user_id, kind, issued, settings)


def preferences_url(user_id: str, issued: date, settings: EmailSettings) -> str:
    """The preferences page (the web service's /preferences, beside /unsubscribe) for the welcome
    email: its token opens the page and unsubscribes from nothing; dated like unsubscribe links."""
    base = urlsplit(settings.unsubscribe_base_url)
    page = base._replace(path=base.path.rsplit("/", 1)[0] + "/preferences").geturl()
    return _with_token(page, user_id, tokens.PREFERENCES_PAGE, issued, settings)


def _with_token(url: str, user_id: str, kind: str, issued: date, settings: EmailSettings) -> str:
    issued_at = int(datetime.combine(issued, time(), timezone.utc).timestamp())
    token = tokens.sign(user_id, kind, settings.unsubscribe_secret, issued_at=issued_at)
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode({'token': token})}"


def render(message: object, settings: EmailSettings) -> Email:
    """The email for one decoded queue message; BadIntent when it can never be one."""
    size = _size(message)
    if size > MAX_INTENT_BYTES:
        raise BadIntent(f"intent payload is {size} bytes, over the {MAX_INTENT_BYTES} limit")
    if not isinstance(message, dict):
        raise BadIntent(f"message is not a JSON object (got {_type_name(message)})")
    intent_id = message.get("intent_id")
    if isinstance(intent_id, bool) or not isinstance(intent_id, int) or intent_id <= 0:
        if intent_id is None:
            raise BadIntent("message has no intent_id")
        raise BadIntent(f"message has an invalid intent_id {_show(intent_id)} (needs a positive integer)")
    if intent_id > MAX_BIGINT:
        raise BadIntent(f"message has an intent_id {_show(intent_id)} out of range (at most {MAX_BIGINT}, a bigint)")
    c = _Check(f"intent {intent_id}: ")
    version = c.get(message, "v", "")
    if version != VERSION or isinstance(version, bool):
        raise c.fail(f"unsupported version {_show(version)}")
    kind = c.get(message, "kind", "")
    if kind not in KINDS:
        raise c.fail(f"unknown kind {_show(kind)}")
    user_id = c.get(message, "user_id", "")
    if user_id is not None:
        try:
            user_id = str(uuid.UUID(user_id))
        except (TypeError, ValueError, AttributeError):
            raise c.fail(f"user_id {_show(user_id)} is not a UUID") from None
    elif kind not in WITHOUT_UNSUBSCRIBE:
        raise c.fail(f"kind {kind!r} needs a user_id (its unsubscribe link names the user)")
    to = c.get(message, "to", "")
    problem = address_problem(to) if isinstance(to, str) else f"must be a string, got {_type_name(to)}"
    if problem:
        raise c.fail(f"invalid recipient address {_show(to)} ({problem})")
    name = c.text(message, "name", nullable=True)
    data = _data(c, kind, c.obj(message, "data"))

    # The intent id travels with the email so provider logs and outbox files lead back to it.
    headers = {INTENT_HEADER: str(intent_id)}
    context = {"name": name, "data": data, "unsubscribe_url": None, "preferences_url": None}
    if kind == "welcome" and user_id is not None and data["day"] is not None:
        context["preferences_url"] = preferences_url(user_id, data["day"], settings)
    if kind not in WITHOUT_UNSUBSCRIBE:
        try:
            as_of = _as_of(kind, data)
        except OverflowError:
            raise c.fail("data.due_date and its day count put the intent's date out of range") from None
        url = unsubscribe_url(user_id, kind, as_of, settings)
        context["unsubscribe_url"] = url
        headers.update({"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    try:
        subject = clean_text(_SUBJECTS[kind].render(context), MAX_SUBJECT_CHARS)
        html = _ENV.get_template(f"{kind}.html").render(context)
        text = _ENV.get_template(f"{kind}.txt").render(context)
    except TemplateError as exc:
        raise c.fail(f"template {kind!r} failed: {type(exc).__name__}: {exc}") from None
    return Email(intent_id=intent_id, kind=kind, user_id=user_id, to=to, from_=settings.from_address,
                 subject=subject, html=html, text=text, headers=headers)
