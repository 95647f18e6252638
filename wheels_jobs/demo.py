"""The demo data set: realistic synthetic users, budgets, vehicles and PAM chat.

Loaded once per database (a re-run finds the demo users and loads nothing), in
set-based statements, one transaction, which also moves the activation to the
start of the demo's history (a week of PAM chat), so the success metrics show
the demo, and gives the daily report a made-up team address when none is set. `cli.py demo` then runs every job once,
delivers the queue once (`sender drain --once`) and summarises what came out;
the jobs' ledger makes a second run enqueue, and so send, nothing new.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from psycopg.rows import dict_row

from sender.config import DrainConfig
from sender.drain import drain
from sender.render import render
from wheels_core.email_settings import EmailSettings
from sender.store import Store
from sender.transports import Transport, transport_from_env
from wheels_core.errors import ConfigError
from wheels_core import db, queries
from wheels_jobs import jobs
from wheels_jobs.migrate import schedules

DEMO_USERS = 200
Q = queries.load("wheels_jobs", "demo.sql")
STEPS = ["profiles", "budget_categories", "expenses", "vehicles", "fuel_logs", "maintenance_records", "pam_analytics_logs"]


def load_demo_data(url: str, on_step: Callable[[str, int], None] = lambda step, rows: None) -> dict[str, int]:
    """Insert the data set unless it is there; return rows inserted per table (empty: already loaded)."""
    with db.connect(url) as conn:
        if conn.execute(Q["demo_loaded"]).fetchone()[0]:
            return {}
        conn.execute(Q["seed"], {"users": DEMO_USERS})
        inserted = {}
        for step in STEPS:
            inserted[step] = conn.execute(Q[step]).rowcount
            on_step(step, inserted[step])
        conn.execute(Q["activation"])
        conn.execute(Q["admin_emails"])
        return inserted


@dataclass(frozen=True)
class Summary:
    sent_by_kind: dict[str, int]  # every email the sender delivered in this database, per kind
    subjects: dict[str, str]  # kind: the subject of one sent email of that kind
    last_day: dict | None  # wheels.pam_daily's newest row: day, messages, success_rate, response_time_p95_ms
    success: list[dict]  # wheels.success_metrics(): the activation guide's metrics since the activation


def sent_by_kind(url: str) -> dict[str, int]:
    """Emails the sender delivered in this database so far, per kind (to tell a run's own from the
    totals); ConfigError when the database is not migrated with the demo source."""
    with db.connect(url, row_factory=dict_row) as conn:
        if not conn.execute(Q["migrated"]).fetchone()["migrated"]:
            raise ConfigError("this database has no wheels-jobs with the demo source yet: run `cli.py migrate "
                              "--source demo` first (`cli.py up` does it)")
        return {row["kind"]: row["sent"] for row in conn.execute(Q["sent_by_kind"])}


def run_every_job(url: str, runner: str, on_job: Callable[[str, str], None] = lambda job, result: None) -> None:
    """Each job of sql/cron/ once, with the command pg_cron runs, recorded in the run log as run by
    `runner`: analytics_hourly first (on a first run analytics_daily rolls up every day the hourly
    rows hold), then the rest in name order."""
    for job in sorted(schedules(), key=lambda s: s.job != "analytics_hourly"):
        on_job(job.job, jobs.run(url, job, runner))


def transport(outbox_dir: Path | None = None, *, resend: bool = False) -> Transport:
    """The outbox folder; Resend (RESEND_API_KEY, which must be set) only when asked for."""
    if resend and not os.environ.get("RESEND_API_KEY"):
        raise ConfigError("--resend needs RESEND_API_KEY")
    return transport_from_env(os.environ if resend else {}, outbox_dir=outbox_dir)


def deliver(url: str, to: Transport, *, once: bool) -> None:
    """`sender drain` in this process: until the queue is empty (once), or until SIGINT/SIGTERM."""
    settings = EmailSettings.from_env(os.environ, require_secret=to.name != "outbox")
    drain(Store(url), to, settings, DrainConfig(once=once), handle_signals=not once)


def summary(url: str) -> Summary:
    settings = EmailSettings.from_env(os.environ)
    with db.connect(url, row_factory=dict_row) as conn:
        sent = {row["kind"]: row["sent"] for row in conn.execute(Q["sent_by_kind"])}
        subjects = {}
        for row in conn.execute(Q["sample_sent_intents"]):
            email = render(row["message"], settings)
            subjects[email.kind] = email.subject
        last_day = conn.execute(Q["last_day_analytics"]).fetchone()
        success = conn.execute(Q["success"]).fetchall()
    return Summary(sent, subjects, last_day, success)
