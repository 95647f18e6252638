"""The email kinds: the one list in Python, checked against wheels.email_kinds.

The database's table (sql/0001_wheels.sql) is what the jobs and the ledger use;
this is what the sender renders, which kinds carry an unsubscribe link and
which switch governs each, what tokens bind to and what the preferences page
shows. `check` compares the two at start (`sender drain`, `cli.py web`), so a
kind added in one place and not the other stops the process with one line
instead of dead-lettering its emails.
"""

from __future__ import annotations

from wheels_core.errors import ConfigError

# kind: the preference kind that switches it off (None: not optional).
KINDS: dict[str, str | None] = {
    "welcome": None,
    "budget_warning": "budget_alerts",
    "over_budget": "budget_alerts",
    "maintenance_reminder": "maintenance",
    "maintenance_overdue": "maintenance",
    "daily_digest": "daily_digest",
    "daily_report": None,
}
# The preference kinds, in the order the preferences page shows them.
PREFERENCE_KINDS = ("budget_alerts", "maintenance", "daily_digest")
# Kinds without a switch: no unsubscribe link (the welcome, and the team's report, whose switch
# is the admin_emails setting).
WITHOUT_UNSUBSCRIBE = tuple(kind for kind, preference in KINDS.items() if preference is None)


def check(rows: list[tuple[str, str | None]]) -> None:
    """ConfigError naming the difference when wheels.email_kinds' (kind, preference_kind) rows are not KINDS."""
    database = dict(rows)
    if database == KINDS:
        return
    missing = sorted(set(database) - set(KINDS))
    extra = sorted(set(KINDS) - set(database))
    other = sorted(k for k in set(KINDS) & set(database) if KINDS[k] != database[k])
    parts = [f"unknown here: {', '.join(missing)}" if missing else "",
             f"not in the database: {', '.join(extra)}" if extra else "",
             f"another switch: {', '.join(other)}" if other else ""]
    raise ConfigError("the email kinds of this code and of wheels.email_kinds differ ("
                      + "; ".join(p for p in parts if p) + "): migrate the database, or deploy the matching code")


