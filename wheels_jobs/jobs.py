"""The job catalogue for `cli.py jobs` and `status`: the jobs of sql/cron/, their
runs from our run log (wheels.job_runs, whoever ran them), whether pg_cron has
them scheduled (in pg_cron's database), and running one now with the very
command pg_cron runs (`CALL wheels.run_job(...)`)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from wheels_core import db, queries
from wheels_core.errors import JobError, MigrationError
from wheels_jobs.migrate import Schedule, cron_target, schedules

log = logging.getLogger(__name__)
Q = queries.load("wheels_jobs")


@dataclass(frozen=True)
class JobStatus:
    """One job and its latest runs (None where there is none)."""

    name: str
    schedule: str
    scheduled: bool | None  # pg_cron has it active; None: pg_cron's tables cannot be read from here
    time_limit: timedelta | None
    last_start: datetime | None
    last_runner: str | None
    last_status: str | None  # succeeded, failed, skipped
    last_duration_s: float | None
    last_result: str | None
    running_since: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures_24h: int

    def as_json(self) -> dict:
        def plain(value):
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, timedelta):
                return value.total_seconds()
            return value
        return {k: plain(v) for k, v in asdict(self).items()}


def find(name: str) -> Schedule:
    """The job called `name`, or a JobError listing the valid names."""
    catalogue = {s.job: s for s in schedules()}
    if name not in catalogue:
        raise JobError(f"no job named {name!r}; valid names: {', '.join(catalogue) or 'none (sql/cron/ is empty)'}")
    return catalogue[name]


def from_health(row: dict, scheduled: bool | None) -> JobStatus:
    """A row of wheels.job_health() (sql/functions/aggregates.sql) as a JobStatus."""
    return JobStatus(
        name=row["job"], schedule=row["schedule"], scheduled=scheduled, time_limit=row["time_limit"],
        last_start=row["last_start"], last_runner=row["last_runner"], last_status=row["last_outcome"],
        last_duration_s=row["last_duration_s"], last_result=row["last_result"],
        running_since=row["running_since"], last_error=row["last_failure"], last_error_at=row["last_failure_at"],
        failures_24h=row["failures_24h"],
    )


def status(url: str) -> list[JobStatus]:
    """Every job, in name order, from the run log, with pg_cron's scheduled flag."""
    with db.connect(url, row_factory=dict_row) as conn:
        health = conn.execute(Q["job_health"]).fetchall()
        try:
            target = cron_target(conn, url)
        except MigrationError:
            target = None
    active: dict[str, bool] | None = None
    if target is not None:
        with db.connect(target.url, row_factory=dict_row) as cron:
            active = {row["jobname"]: row["active"] for row in cron.execute(
                Q["cron_active"], {"database": target.database, "prefix": target.prefix})}
    return [from_health(row, None if active is None or row["job"] == "welcome"
                        else active.get(target.jobname(row["job"]), False))
            for row in health]


def run(url: str, job: Schedule, runner: str = "wheels jobs run") -> str:
    """Run the job's sql/cron/ command now in the app database; return its one-line result.

    The run log records `runner` (the session's application_name) as who ran it.
    """
    log.info("running job by hand", extra={"action": "job_run", "job": job.job})
    with db.connect(url, autocommit=True, application_name=runner) as conn:
        try:
            row = conn.execute(job.command).fetchone()
        except psycopg.Error as exc:
            # The primary message (and hint): the PL/pgSQL CONTEXT lines are noise on one line.
            hint = f" ({exc.diag.message_hint})" if exc.diag.message_hint else ""
            raise JobError((exc.diag.message_primary or str(exc)) + hint) from None
    return "" if row is None else str(row[0])
