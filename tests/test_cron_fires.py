"""pg_cron itself runs a scheduled job: the one slow test (it waits for pg_cron's
next minute, so up to ~75 s)."""

from __future__ import annotations

import json
import time

import psycopg
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import run_cli
from wheels_jobs.migrate import migrate

WAIT_FOR_RUN_S = 75
POLL_INTERVAL_S = 1


def test_pg_cron_fires_budget_alerts_and_it_enqueues(db_url, pg_server):
    changes = migrate(db_url)
    dbname = conninfo_to_dict(db_url)["dbname"]
    jobname = f"wheels:{dbname}:budget_alerts"
    assert f"cron {jobname}: scheduled '5 * * * *'" in changes
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO profiles (email) VALUES ('ana@example.com')")
        category_id = conn.execute(
            "INSERT INTO budget_categories (user_id, name, monthly_limit) SELECT id, 'Fuel', 100 FROM profiles RETURNING id"
        ).fetchone()[0]
        conn.execute("INSERT INTO expenses (user_id, category_id, amount) SELECT user_id, id, 90 FROM budget_categories")
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as cron:
        # The real job and its real command (from sql/cron/), due every minute instead of hourly.
        jobid = cron.execute(
            "SELECT jobid FROM cron.job WHERE jobname = %s AND command = 'CALL wheels.run_job(''budget_alerts'');'",
            [jobname]
        ).fetchone()[0]
        cron.execute("SELECT cron.alter_job(%s, schedule := '* * * * *')", [jobid])
        deadline = time.monotonic() + WAIT_FOR_RUN_S
        run = None
        while time.monotonic() < deadline and run is None:
            time.sleep(POLL_INTERVAL_S)
            run = cron.execute(
                "SELECT status, return_message FROM cron.job_run_details"
                " WHERE jobid = %s AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1",
                [jobid],
            ).fetchone()
    assert run is not None, f"pg_cron did not run {jobname} within {WAIT_FOR_RUN_S} s"
    assert run[0] == "succeeded", run
    with psycopg.connect(db_url) as conn:
        ledger = conn.execute("SELECT kind, subject FROM wheels.email_ledger WHERE kind <> 'welcome'").fetchall()
        queued = conn.execute("SELECT message->>'kind' FROM pgmq.read('email_intents', 0, 10)").fetchall()
    assert ledger == [("budget_warning", str(category_id))]
    assert sorted(kind for (kind,) in queued) == ["budget_warning", "welcome"]
    listed = run_cli("jobs", "list", "--json", env={"DATABASE_URL": db_url})
    alerts = next(job for job in json.loads(listed.stdout) if job["name"] == "budget_alerts")
    assert alerts["scheduled"] and alerts["last_status"] == "succeeded" and alerts["last_error"] is None
    # pg_cron's run is in our run log, with pg_cron as its runner.
    assert alerts["last_runner"] == "pg_cron"
    assert alerts["last_result"] == "budget_alerts: 1 intent enqueued (1 warning, 0 over budget)"
