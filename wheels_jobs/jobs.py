"""The job catalogue for `cli.py jobs`: the schedules of sql/cron/, what pg_cron
recorded about each (cron.job_run_details, in pg_cron's database), and running
one job by hand with the very command pg_cron runs."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from wheels_core import db, queries
from wheels_core.errors import JobError
from wheels_jobs.migrate import Schedule, cron_target, schedules

log = logging.getLogger(__name__)
Q = queries.load("wheels_jobs")


@dataclass(frozen=True)
class JobStatus:
    """One job of sql/cron/ and its latest pg_cron history (None where there is none)."""

    name: str
    schedule: str
    scheduled: bool  # pg_cron has the job (migrate scheduled it) and it is active
    last_start: datetime | None
    last_status: str | None
    last_duration_s: float | None
    last_error: str | None
    last_error_at: datetime | None
    failures_24h: int

    def as_json(self) -> dict:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


def find(name: str) -> Schedule:
    """The job called `name`, or a JobError listing the valid names."""
    catalogue = {s.job: s for s in schedules()}
    if name not in catalogue:
        raise JobError(f"no job named {name!r}; valid names: {', '.join(catalogue) or 'none (sql/cron/ is empty)'}")
    return catalogue[name]


def status(url: str) -> list[JobStatus]:
    """Every job of sql/cron/, in name order, with pg_cron's newest run, newest failure and failures in 24 h."""
    with db.connect(url) as conn:
        target = cron_target(conn, url)
    wanted = schedules()
    with db.connect(target.url, row_factory=dict_row) as cron:
        rows = cron.execute(
            Q["job_runs"], {"database": target.database, "jobnames": [target.jobname(s.job) for s in wanted]}
        ).fetchall()
    by_name = {row["jobname"]: row for row in rows}
    result = []
    for s in wanted:
        row = by_name.get(target.jobname(s.job), {})
        error = row.get("last_error")
        result.append(JobStatus(
            name=s.job,
            schedule=s.schedule,
            scheduled=bool(row.get("active")),
            last_start=row.get("last_start"),
            last_status=row.get("last_status"),
            last_duration_s=row.get("last_duration_s"),
            last_error=" ".join(error.split()) if error else None,
            last_error_at=row.get("last_error_at"),
            failures_24h=row.get("failures_24h", 0),
        ))
    return result


def run(url: str, job: Schedule) -> str:
    """Run the job's sql/cron/ command now in the app database; return its one-line result."""
    log.info("running job by hand", extra={"action": "job_run", "job": job.job})
    with db.connect(url, autocommit=True) as conn:
        try:
            cursor = conn.execute(job.command)
            row = cursor.fetchone() if cursor.description else None
        except psycopg.Error as exc:
            # The primary message (and hint): the PL/pgSQL CONTEXT lines are noise on one line.
            hint = f" ({exc.diag.message_hint})" if exc.diag.message_hint else ""
            raise JobError(f"job {job.job} failed: {exc.diag.message_primary or exc}{hint}") from None
    return "" if row is None else str(row[0])
