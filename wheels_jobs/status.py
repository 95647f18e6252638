"""`cli.py status`: one look at the whole system, and whether it needs attention.

Gathers the queues (pgmq), dead letters, the jobs (wheels_jobs.jobs.status:
pg_cron's history), emails sent against the provider's quota, the sender
processes (their heartbeats) and Resend's bounces and complaints
(delivery_event_counts). `attention` lists, one line each, what an
operator must look at; the CLI exits non-zero when it is not empty.
sender_health is the narrower check of `cli.py sender-health`: is a sender running.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

from wheels_core import db, queries
from wheels_jobs import jobs
from wheels_jobs.migrate import installed_source

Q = queries.load("wheels_jobs", "status.sql")

# Above this complaint rate `status` warns (Gmail's bulk-sender limit is 0.3%).
COMPLAINT_RATE_WARN = 0.001

# What `status --help` says makes the exit code non-zero; each is one `attention` line.
ATTENTION_CONDITIONS = (
    "a job failed in the last 24 h",
    "dead letters are waiting",
    "a queue is stuck: a visible message older than queue_stuck_minutes and no sender seen",
    "today's or this month's sent emails reached email_quota_warn_percent of the quota",
    "the complaint rate of the last 7 days is above 0.1%",
)


@dataclass(frozen=True)
class Report:
    database: dict  # where this report looks: host:port/dbname (no credentials), the source installed there
    queues: list[dict]
    oldest_visible_age_s: float | None
    dead_letters: dict
    jobs: list[jobs.JobStatus]
    emails: dict
    senders: list[dict]
    delivery_events: dict
    attention: list[str]

    def as_json(self) -> dict:
        def plain(value):
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, Decimal):
                return float(value)
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        return plain({**asdict(self), "jobs": [j.as_json() for j in self.jobs], "healthy": not self.attention})


def percent(count: int, quota: int) -> float | None:
    return 100.0 * count / quota if quota > 0 else None


def delivery_event_counts(conn: psycopg.Connection) -> dict:
    """Bounces, complaints and sent emails of the last 7 days, the complaint rate (None when
    nothing was sent) and whether it is above COMPLAINT_RATE_WARN."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(Q["delivery_event_counts"]).fetchone()
    rate = row["complaint_rate"]
    return {**row, "complaint_rate_warning": rate is not None and rate > COMPLAINT_RATE_WARN}


def gather(url: str) -> Report:
    """Everything `status` shows, read in one pass (the jobs from pg_cron's database)."""
    with db.connect(url, row_factory=dict_row) as conn:
        queues = conn.execute(Q["queues"]).fetchall()
        row = conn.execute(Q["overview"]).fetchone()
        senders = conn.execute(Q["senders"]).fetchall()
        events = delivery_event_counts(conn)
        installed = installed_source(conn)
    database = {"name": db.describe(url), "source": installed[0] if installed else None}
    job_list = jobs.status(url)
    emails = {
        "sent_today": row["sent_today"], "quota_daily": row["quota_daily"],
        "percent_daily": percent(row["sent_today"], row["quota_daily"]),
        "sent_month": row["sent_month"], "quota_monthly": row["quota_monthly"],
        "percent_monthly": percent(row["sent_month"], row["quota_monthly"]),
        "warn_percent": row["quota_warn_percent"], "outbox_today": row["outbox_today"],
    }
    dead = {"count": row["dead_letters"], "oldest_at": row["oldest_dead_letter_at"]}
    attention = [f"job {j.name}: {j.failures_24h} failed run(s) in the last 24 h (last error: {j.last_error})"
                 for j in job_list if j.failures_24h]
    if dead["count"]:
        attention.append(f"{dead['count']} dead letter(s): `cli.py dlq list`")
    running = sum(1 for s in senders if s["running"])
    oldest_visible = row["oldest_visible_age_s"]
    if oldest_visible is not None and oldest_visible > row["queue_stuck_minutes"] * 60 and not running:
        attention.append(f"queue email_intents is stuck: a visible message {oldest_visible / 60:.0f} min old "
                         "and no sender running (start `sender drain`)")
    for period in ("daily", "monthly"):
        used = emails[f"percent_{period}"]
        if used is not None and used >= emails["warn_percent"]:
            sent = emails["sent_today" if period == "daily" else "sent_month"]
            attention.append(f"{period} email quota {used:.0f}% used ({sent} of {emails[f'quota_{period}']})")
    if events["complaint_rate_warning"]:
        attention.append(f"complaint rate {events['complaint_rate']:.2%} over the last 7 days "
                         f"({events['complaints']} of {events['sent']}) is above {COMPLAINT_RATE_WARN:.1%}")
    return Report(database, queues, oldest_visible, dead, job_list, emails, senders, events, attention)


def sender_health(url: str) -> tuple[bool, str]:
    """(whether a `sender drain` is running, one line saying so or why not): running means a
    heartbeat fresher than the sender_seen_minutes setting and no clean exit."""
    with db.connect(url, row_factory=dict_row) as conn:
        row = conn.execute(Q["sender_health"]).fetchone()
    if row is None:
        return False, "no sender has ever run against this database (wheels.sender_heartbeats is empty)"

    def ago(seconds: float) -> str:
        return f"{timedelta(seconds=round(seconds))} ago"

    who = f"{row['host']} pid {row['pid']}"
    if row["running"]:
        return True, f"{row['running_count']} sender(s) running; {who} seen {ago(row['seen_age_s'])}"
    if row["stopped_age_s"] is not None:
        return False, f"no sender running: the last, {who}, stopped cleanly {ago(row['stopped_age_s'])}"
    return False, (f"no sender running: the last, {who}, was seen {ago(row['seen_age_s'])}, "
                   f"longer than sender_seen_minutes ({row['seen_minutes']})")
