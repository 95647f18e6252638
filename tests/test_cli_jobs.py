"""`cli.py jobs list|run` as an operator runs them, against a real database and pg_cron."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import run_cli
from wheels_jobs.migrate import migrate, schedules

# Reads the calendar: also run at other instants (tests/test_any_instant.py).
pytestmark = pytest.mark.clock

JOB_NAMES = sorted(s.job for s in schedules())


def one_error_line(result) -> str:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def history(db_url, pg_server):
    """Schedules in pg_cron (inactive, so no real run interferes) and two runs of budget_alerts in
    our run log: a failure by pg_cron, then a success by `jobs run`."""
    migrate(db_url)
    dbname = conninfo_to_dict(db_url)["dbname"]
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as cron:
        cron.execute("SELECT cron.alter_job(jobid, active := false) FROM cron.job WHERE database = %s", [dbname])
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO wheels.job_runs (job, runner, started_at, finished_at, outcome, result)
               VALUES ('budget_alerts', 'pg_cron', '2026-11-29 10:05:00Z', '2026-11-29 10:05:01Z', 'failed',
                       'budget_alerts failed: boom'),
                      ('budget_alerts', 'wheels jobs run', '2026-11-29 11:05:00Z', '2026-11-29 11:05:00.250Z',
                       'succeeded', 'budget_alerts: 0 intents enqueued (0 warnings, 0 over budget)')""")
    return db_url


def test_jobs_list_json_shows_every_job_with_its_last_run_and_last_error(history):
    result = run_cli("jobs", "list", "--json", env={"DATABASE_URL": history})
    assert result.returncode == 0, result.stderr
    listed = {job["name"]: job for job in json.loads(result.stdout)}
    assert sorted(listed) == JOB_NAMES
    alerts = listed["budget_alerts"]
    assert isinstance(alerts.pop("failures_24h"), int)  # counted against now(): tests/test_status.py
    assert alerts == {
        "name": "budget_alerts", "schedule": "5 * * * *", "scheduled": False, "time_limit": 600.0,
        "last_start": "2026-11-29T11:05:00+00:00", "last_runner": "wheels jobs run", "last_status": "succeeded",
        "last_duration_s": 0.25, "last_result": "budget_alerts: 0 intents enqueued (0 warnings, 0 over budget)",
        "running_since": None, "last_error": "budget_alerts failed: boom", "last_error_at": "2026-11-29T10:05:00+00:00",
    }
    assert all(job["last_status"] is None for name, job in listed.items() if name != "budget_alerts")


@pytest.mark.parametrize("columns", [None, "80"])
def test_jobs_list_table_is_whole_when_output_is_not_a_terminal(history, columns):
    # Piped, whatever COLUMNS says (test runners and shells leave 80 there): one whole line per job.
    result = run_cli("jobs", "list", env={"DATABASE_URL": history, **({"COLUMNS": columns} if columns else {})})
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "budget_alerts" in line)
    assert "5 * * * *" in row and "succeeded" in row and "0.25 s" in row and "budget_alerts failed: boom" in row
    assert "wheels jobs run" in row and "budget_alerts: 0 intents enqueued (0 warnings, 0 over budget)" in row
    assert "…" not in result.stdout and "duration" in result.stdout and "last failure" in result.stdout
    assert all(name in result.stdout for name in JOB_NAMES)


def test_jobs_list_before_migrate_schedules_says_not_scheduled(db_url):
    result = run_cli("jobs", "list", env={"DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("not scheduled") == len(JOB_NAMES)


def test_jobs_run_prints_the_one_line_result(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO profiles (email) VALUES ('ana@example.com')")
        conn.execute("INSERT INTO budget_categories (user_id, name, monthly_limit) SELECT id, 'Fuel', 100 FROM profiles")
        conn.execute("INSERT INTO expenses (user_id, category_id, amount) SELECT user_id, id, 150 FROM budget_categories")
    result = run_cli("jobs", "run", "budget_alerts", env={"DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "budget_alerts: 1 intent enqueued (0 warnings, 1 over budget)\n"
    again = run_cli("jobs", "run", "budget_alerts", env={"DATABASE_URL": db_url})
    assert again.stdout == "budget_alerts: 0 intents enqueued (0 warnings, 0 over budget)\n"


def test_jobs_run_unknown_name_lists_the_valid_ones():
    line = one_error_line(run_cli("jobs", "run", "nope"))
    assert line == f"error: no job named 'nope'; valid names: {', '.join(JOB_NAMES)}"


def test_jobs_run_failing_job_is_one_line_and_exit_1(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM wheels.settings WHERE name = 'digest_local_hour'")
    line = one_error_line(run_cli("jobs", "run", "daily_digest", env={"DATABASE_URL": db_url}))
    assert line == "error: daily_digest failed: wheels.settings has no setting digest_local_hour"


def test_every_run_is_in_the_run_log_whoever_ran_it(db_url):
    assert run_cli("jobs", "run", "fuel_consumption", env={"DATABASE_URL": db_url}).returncode == 0
    listed = {job["name"]: job for job in json.loads(run_cli("jobs", "list", "--json", env={"DATABASE_URL": db_url}).stdout)}
    assert listed["fuel_consumption"]["last_runner"] == "wheels jobs run"
    assert listed["fuel_consumption"]["last_result"] == "fuel_consumption: 0 vehicles updated, 0 measured"
