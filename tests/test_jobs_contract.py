"""The contract every job keeps: a schedule file whose one statement is
`CALL wheels.run_job('<job>');` with a time limit, a one-line result, every run
in the run log whoever ran it, and one run of a job at a time: run_job skips
while another run holds the job, a direct call waits for it, and a run past its
time limit is cancelled by the next run_job."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.sender_support import rows, wait_for
from wheels_jobs.migrate import CRON_DIR, Schedule, schedules

JOBS = [s.job for s in schedules()]
WAIT_DEADLINE_S = 30


def call(url: str, job: str, application_name: str = "tests") -> str:
    """The job's sql/cron/ command, as pg_cron runs it (autocommit: run_job commits)."""
    with psycopg.connect(url, autocommit=True, application_name=application_name) as conn:
        return conn.execute(Schedule.from_file(CRON_DIR / f"{job}.sql").command).fetchone()[0]


def runs(url: str, job: str) -> list[dict]:
    return rows(url, "SELECT runner, outcome, result, finished_at - started_at AS took FROM wheels.job_runs"
                     " WHERE job = %s ORDER BY id", [job])


def waiting(conn, application_name: str) -> bool:
    return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                        " AND wait_event_type = 'Lock'", [application_name]).fetchone()[0] > 0


def test_every_cron_file_runs_its_job_through_run_job_with_a_time_limit():
    assert JOBS == sorted(p.stem for p in CRON_DIR.glob("*.sql")) and len(JOBS) == 10
    for s in schedules():
        assert s.command == f"CALL wheels.run_job('{s.job}');"
        assert s.time_limit.endswith("min")


@pytest.mark.parametrize("job", JOBS)
def test_the_command_pg_cron_runs_gives_one_line_and_is_logged(db_url, job):
    result = call(db_url, job, "wheels jobs run")
    assert result.startswith(f"{job}: ") and "\n" not in result
    [run] = runs(db_url, job)
    assert (run["runner"], run["outcome"], run["result"]) == ("wheels jobs run", "succeeded", result)
    assert run["took"] is not None


@pytest.mark.parametrize("job", JOBS)
def test_while_a_run_holds_the_job_run_job_skips_and_a_direct_call_waits(db_url, job):
    with psycopg.connect(db_url) as holder, psycopg.connect(db_url, autocommit=True) as observer:
        holder.execute("SELECT wheels.lock_job(%s)", [job])  # a run in progress
        assert call(db_url, job) == f"{job}: skipped, another run of it is still going"
        assert runs(db_url, job)[-1]["outcome"] == "skipped"
        if job == "cleanup":
            return  # a procedure: only run_job runs it
        result: list[str] = []

        def direct() -> None:
            with psycopg.connect(db_url, autocommit=True, application_name="second") as conn:
                result.append(conn.execute(f"SELECT wheels.{job}()").fetchone()[0])

        runner = threading.Thread(target=direct)
        runner.start()
        wait_for(lambda: waiting(observer, "second"), WAIT_DEADLINE_S)
        assert not result
        holder.commit()
        runner.join(WAIT_DEADLINE_S)
    assert result and result[0].startswith(f"{job}: ")


def test_a_failed_run_is_logged_and_still_fails_for_pg_cron_and_the_cli(db_url):
    rows(db_url, "DELETE FROM wheels.settings WHERE name = 'digest_local_hour' RETURNING name")
    with pytest.raises(psycopg.errors.RaiseException, match="daily_digest failed: wheels.settings has no setting"):
        call(db_url, "daily_digest")
    [run] = runs(db_url, "daily_digest")
    assert run["outcome"] == "failed" and run["result"].startswith("daily_digest failed: wheels.settings has no setting")
    # The lock went with the run: the next one runs (and fails the same way).
    with pytest.raises(psycopg.errors.RaiseException):
        call(db_url, "daily_digest")
    assert [r["outcome"] for r in runs(db_url, "daily_digest")] == ["failed", "failed"]


def test_a_run_past_its_time_limit_is_cancelled_by_the_next_run_job(db_url):
    rows(db_url, "UPDATE wheels.jobs SET time_limit = '1 second' WHERE job = 'budget_alerts' RETURNING job")
    failure: list[Exception] = []

    def stuck_run() -> None:
        try:
            call(db_url, "budget_alerts", "stuck")
        except psycopg.Error as exc:
            failure.append(exc)

    with psycopg.connect(db_url) as app:
        app.execute("LOCK TABLE public.budget_categories IN ACCESS EXCLUSIVE MODE")  # the run waits on the app
        rows(db_url, "UPDATE wheels.jobs SET time_limit = '1 hour' WHERE job = 'budget_alerts' RETURNING job")
        runner = threading.Thread(target=stuck_run)
        runner.start()
        with psycopg.connect(db_url, autocommit=True) as observer:
            wait_for(lambda: waiting(observer, "stuck"), WAIT_DEADLINE_S)
        # Its deadline passes; another job's run notices and cancels it.
        rows(db_url, "UPDATE wheels.job_runs SET deadline = now() - interval '1 second'"
                     " WHERE job = 'budget_alerts' AND outcome = 'running' RETURNING id")
        call(db_url, "maintenance_reminders")
        runner.join(WAIT_DEADLINE_S)
    assert failure and "budget_alerts failed: cancelled: over its time limit" in str(failure[0])
    assert runs(db_url, "budget_alerts")[-1]["outcome"] == "failed"


def test_a_run_whose_session_died_is_closed_as_failed_by_the_next_one(db_url):
    rows(db_url, "INSERT INTO wheels.job_runs (job, runner, started_at, outcome, pid, deadline)"
                 " VALUES ('fuel_consumption', 'pg_cron', now() - interval '1 hour', 'running', 1, now()) RETURNING id")
    call(db_url, "fuel_consumption")
    first, second = runs(db_url, "fuel_consumption")
    assert first["outcome"] == "failed" and "its session ended before the run did" in first["result"]
    assert second["outcome"] == "succeeded"


def test_concurrent_budget_alerts_never_send_a_warning_after_over_budget(db_url):
    """Eight runs at once while 400 budgets climb from 85% to 105% of their limits: each
    budget gets its warning, if at all, before its over_budget, never after."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO profiles (email) SELECT format('u%s@example.com', i) FROM generate_series(1, 100) i")
        conn.execute("INSERT INTO budget_categories (user_id, name, monthly_limit)"
                     " SELECT p.id, c, 100 FROM profiles p, unnest(ARRAY['Fuel', 'Food', 'Camping', 'Repairs']) c")
        conn.execute("INSERT INTO expenses (user_id, category_id, amount, spent_at)"
                     " SELECT user_id, id, 85, now() FROM budget_categories")
    stop = threading.Event()

    def spend() -> None:  # +1% per budget per statement, up to 105%
        with psycopg.connect(db_url, autocommit=True) as conn:
            for _ in range(20):
                conn.execute("INSERT INTO expenses (user_id, category_id, amount, spent_at)"
                             " SELECT user_id, id, 1, now() FROM budget_categories")
        stop.set()

    def alerts(_) -> int:
        with psycopg.connect(db_url, autocommit=True) as conn:
            n = 0
            while not stop.is_set() or n == 0:
                conn.execute("SELECT wheels.budget_alerts()")
                n += 1
            conn.execute("SELECT wheels.budget_alerts()")
            return n

    spender = threading.Thread(target=spend)
    spender.start()
    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(alerts, range(8))) >= 8
    spender.join()
    late = rows(db_url, "SELECT w.subject FROM wheels.email_ledger w JOIN wheels.email_ledger o"
                        " ON (o.subject, o.period, o.kind) = (w.subject, w.period, 'over_budget')"
                        " WHERE w.kind = 'budget_warning' AND w.id > o.id")
    assert late == []
    assert rows(db_url, "SELECT count(*) AS n FROM wheels.email_ledger WHERE kind = 'over_budget'")[0]["n"] == 400


def rollup(url: str, job: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(f"SELECT wheels.{job}(as_of => '2026-11-30T12:05Z')").fetchone()[0]


def test_concurrent_rollups_write_each_hour_and_day_once(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        # 2000 responses, one every 7 minutes back from 12:00: 234 hours over 10 days.
        conn.execute(
            "INSERT INTO pam_analytics_logs (created_at, event_type, response_time_ms)"
            " SELECT '2026-11-30T12:00Z'::timestamptz - i * interval '7 minutes', 'response', i"
            " FROM generate_series(1, 2000) i"
        )
    with ThreadPoolExecutor(4) as pool:
        hourly = sorted(pool.map(lambda _: rollup(db_url, "analytics_hourly"), range(4)))
    with ThreadPoolExecutor(4) as pool:
        daily = list(pool.map(lambda _: rollup(db_url, "analytics_daily"), range(4)))

    # One run backfilled; the others waited for it, then re-did only the recompute window.
    window = "analytics_hourly: 3 hours upserted (0 changed) from 25 rows, 2026-11-30 09:00 .. 2026-11-30 12:00Z"
    assert hourly == [
        "analytics_hourly: 234 hours upserted (234 changed) from 2000 rows, 2026-11-20 18:00 .. 2026-11-30 12:00Z",
        window, window, window,
    ]
    assert all(r.startswith("analytics_daily: ") for r in daily)
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        assert conn.execute("SELECT count(*) AS n, sum(responses) AS r FROM wheels.pam_hourly").fetchone() == {
            "n": 234, "r": 2000}
        days = conn.execute("SELECT count(*) AS n, sum(responses) AS r FROM wheels.pam_daily").fetchone()
        assert days == {"n": 10, "r": 2000 - 60 * 12 // 7}  # today (Nov 30) is not a complete day yet
