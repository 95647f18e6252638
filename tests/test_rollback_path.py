"""The README's rollback path: `jobs unschedule-all` stops pg_cron from running the jobs;
`migrate` schedules them again."""

from __future__ import annotations

import json

import psycopg
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import run_cli
from wheels_jobs.migrate import migrate, schedules


def cron_jobs(pg_server, url: str) -> list[str]:
    with psycopg.connect(pg_server.url("postgres")) as conn:
        return [name for (name,) in conn.execute(
            "SELECT jobname FROM cron.job WHERE database = %s ORDER BY jobname", [conninfo_to_dict(url)["dbname"]])]


def test_unschedule_all_then_migrate_schedules_again(db_url, pg_server):
    migrate(db_url)
    assert len(cron_jobs(pg_server, db_url)) == len(schedules())
    env = {"DATABASE_URL": db_url}
    done = run_cli("jobs", "unschedule-all", env=env)
    assert done.returncode == 0, done.stderr
    assert "unscheduled every wheels job" in done.stdout
    assert cron_jobs(pg_server, db_url) == []
    report = json.loads(run_cli("status", "--json", env=env).stdout)
    assert not any(job["scheduled"] for job in report["jobs"])
    migrate(db_url)
    assert len(cron_jobs(pg_server, db_url)) == len(schedules())
