"""The contract of the analytics, fuel and cleanup jobs: a schedule file whose one statement
is `SELECT wheels.<job>();`, a one-line result, and one run at a time (a second run waits
on the first's advisory lock, then finishes without errors or duplicate rows)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from wheels_jobs.migrate import CRON_DIR, Schedule

JOBS = ["analytics_hourly", "analytics_daily", "fuel_consumption", "cleanup"]
SCHEDULES = {
    "analytics_hourly": "5 * * * *", "analytics_daily": "0 2 * * *",
    "fuel_consumption": "30 3 * * *", "cleanup": "35 * * * *",
}
WAIT_DEADLINE_S = 30


def run_job(url: str, job: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(f"SELECT wheels.{job}()").fetchone()[0]


def waiting_on_advisory_lock(conn, application_name: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event = 'advisory'",
        [application_name],
    ).fetchone()
    return row[0] > 0


@pytest.mark.parametrize("job", JOBS)
def test_schedule_file_and_one_line_result(db_url, job):
    schedule = Schedule.from_file(CRON_DIR / f"{job}.sql")
    assert (schedule.schedule, schedule.command) == (SCHEDULES[job], f"SELECT wheels.{job}();")
    with psycopg.connect(db_url, autocommit=True) as conn:
        # Exactly what pg_cron runs, on empty tables.
        (result,) = conn.execute(schedule.command).fetchone()
    assert result.startswith(f"{job}: ") and "\n" not in result


@pytest.mark.parametrize("job", JOBS)
def test_a_second_run_waits_for_the_first(db_url, job):
    with psycopg.connect(db_url) as holder, psycopg.connect(db_url, autocommit=True) as observer:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"wheels.{job}"])  # a run in progress
        result: list[str] = []
        runner = threading.Thread(target=lambda: result.append(run_job(f"{db_url}?application_name=second", job)))
        runner.start()
        deadline = time.monotonic() + WAIT_DEADLINE_S
        while not waiting_on_advisory_lock(observer, "second") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waiting_on_advisory_lock(observer, "second")
        assert not result
        holder.commit()
        runner.join(WAIT_DEADLINE_S)
    assert result and result[0].startswith(f"{job}: ")


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
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*), sum(responses) FROM analytics_summary").fetchone() == (234, 2000)
        days, responses = conn.execute("SELECT count(*), sum(responses) FROM analytics_daily").fetchone()
        assert (days, responses) == (10, 2000 - 60 * 12 // 7)  # today (Nov 30) is not a complete day yet
