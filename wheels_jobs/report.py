"""The team's daily report outside email: `cli.py report` prints the figures of
wheels.daily_figures (the daily_report email's data, success metrics included),
`cli.py activation` shows or moves the activation they count from, and `cli.py
migrate` keeps the admin_emails setting, which the daily_report job reads, equal
to ADMIN_EMAILS."""

from __future__ import annotations

import logging
from datetime import date, datetime

from psycopg.rows import dict_row

from wheels_core import db, queries
from wheels_core.addresses import address_problem
from wheels_core.errors import ConfigError, NotFound

log = logging.getLogger(__name__)
Q = queries.load("wheels_jobs", "report.sql")


def figures(url: str, day: date) -> dict:
    """One UTC day's figures, as in the daily_report email (docs/INTENTS.md)."""
    with db.connect(url, row_factory=dict_row) as conn:
        return conn.execute(Q["daily_figures"], {"day": day}).fetchone()["figures"]


def activation(url: str, at: datetime | None = None) -> tuple[datetime, datetime]:
    """(activated_at, when it was set) of wheels.activation, after moving it to `at` when given;
    NotFound when there is none (its row deleted by hand)."""
    with db.connect(url) as conn:
        if at is None:
            row = conn.execute(Q["activation"]).fetchone()
            if row is None:
                raise NotFound("no activation is recorded: set one with `cli.py activation --set now` (or a date)")
            return row
        moved = conn.execute(Q["set_activation"], {"at": at}).fetchone()
    log.info("activation moved", extra={"action": "activation", "activated_at": at.isoformat()})
    return moved


def admin_addresses(value: str) -> list[str]:
    """ADMIN_EMAILS (comma-separated) as lower-cased addresses; ConfigError naming a bad one."""
    addresses = []
    for raw in value.split(","):
        address = raw.strip().lower()
        if not address:
            continue
        problem = address_problem(address)
        if problem:
            raise ConfigError(f"ADMIN_EMAILS: {address!r} is not a usable address ({problem})")
        if address not in addresses:
            addresses.append(address)
    return addresses


def sync_admin_emails(url: str, value: str) -> str | None:
    """Set the admin_emails setting from ADMIN_EMAILS; a line for migrate's changes when it changed."""
    addresses = ",".join(admin_addresses(value))
    with db.connect(url) as conn:
        changed = conn.execute(Q["set_admin_emails"], {"value": addresses}).fetchone()
    if changed is None:
        return None
    log.info("admin_emails set from ADMIN_EMAILS", extra={"action": "admin_emails", "count": addresses.count("@")})
    return f"setting admin_emails: {addresses.count('@')} address(es) from ADMIN_EMAILS"
