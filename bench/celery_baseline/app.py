"""The Celery app of the baseline: the design wheels-jobs replaces (Celery worker +
Celery Beat + Redis), with the old tasks' shape: Beat fires Python tasks that
query the tables through psycopg, and every email is its own task making one
`resend.Emails.send` call (no batch, no idempotency key), as email_tasks.py did.

Configured from the environment, read at import (worker, beat and the bench's
producer all import this module):
BENCH_BROKER_URL (redis://127.0.0.1:PORT/0), DATABASE_URL, RESEND_API_KEY,
RESEND_API_URL, UNSUBSCRIBE_SECRET, BENCH_ACKS_LATE=1 (ack after the task instead
of before it), BENCH_VISIBILITY_TIMEOUT_S (how long an unacknowledged message
stays with a dead worker before Redis hands it out again; Celery's default is 3600).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

import resend
from celery import Celery
from celery.schedules import crontab

from bench.celery_baseline import jobs
from sender.render import render
from wheels_core.email_settings import EmailSettings

app = Celery("wheels_baseline", broker=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_acks_late=os.environ.get("BENCH_ACKS_LATE") == "1",
    task_ignore_result=True,
    # A dead worker's unacknowledged messages go back on the queue after the visibility
    # timeout, found by a sweep every second (kombu's default sweep: every 100 s).
    broker_transport_options={"visibility_timeout": int(os.environ.get("BENCH_VISIBILITY_TIMEOUT_S", "3600")),
                              "unacked_restore_interval": 1, "unacked_restore_throttle": 1},
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    # The old deployment's schedule (docs: "Scheduled Tasks (Celery Beat)").
    beat_schedule={
        "analytics-hourly": {"task": "analytics_hourly", "schedule": crontab(minute=5)},
        "budget-alerts-hourly": {"task": "budget_alerts", "schedule": crontab(minute=15)},
    },
)

DATABASE_URL = os.environ.get("DATABASE_URL", "")
RENDER_SETTINGS = EmailSettings.from_env(os.environ)
resend.api_key = os.environ.get("RESEND_API_KEY", "")
resend.api_url = os.environ.get("RESEND_API_URL", resend.api_url)


@app.task(name="analytics_hourly")
def analytics_hourly(hour_iso: str | None = None) -> None:
    """Roll up one hour (default: the last complete one) in Python."""
    hour = datetime.fromisoformat(hour_iso) if hour_iso else \
        datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - jobs.HOUR
    jobs.rollup_hour(DATABASE_URL, hour)


@app.task(name="budget_alerts")
def budget_alerts(as_of_iso: str | None = None) -> int:
    """Detect budget thresholds in Python, then one send_email task per alert."""
    as_of = datetime.fromisoformat(as_of_iso) if as_of_iso else datetime.now(timezone.utc)
    intents = jobs.budget_alerts(DATABASE_URL, as_of)
    for intent in intents:
        send_email.delay(intent)
    return len(intents)


@app.task(name="send_email", autoretry_for=(resend.exceptions.ResendError,), retry_backoff=True, max_retries=3)
def send_email(intent: dict) -> None:
    """One email, one API call."""
    email = render(intent, RENDER_SETTINGS)
    resend.Emails.send({"from": email.from_, "to": [email.to], "subject": email.subject,
                        "html": email.html, "text": email.text, "headers": email.headers})
