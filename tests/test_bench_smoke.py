"""Smoke test of the Celery comparison (bench/celery_compare.py) at the tiniest scale:
the baseline's Python rollup and wheels.analytics_hourly must produce the same rows
from the same generated events, or the benchmark compares different work.
Needs neither Celery nor Redis (bench/celery_baseline/jobs.py imports no Celery)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.rows import dict_row

from bench.celery_baseline import jobs
from wheels_core import queries

COMPARE = queries.load("bench.celery_baseline", "compare.sql")
START = datetime(2026, 11, 18, tzinfo=timezone.utc)
HOURS = 2
ROWS_PER_HOUR = 400


def summary(conn) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "computed_at"}
            for row in conn.execute(COMPARE["summary_rows"]).fetchall()]


def test_python_rollup_matches_sql_rollup(db_url):
    with psycopg.connect(db_url, row_factory=dict_row, autocommit=True) as conn:
        conn.execute("SELECT setseed(0.42)")
        conn.execute(COMPARE["generate_events"], {"start": START, "rows_per_hour": ROWS_PER_HOUR, "hours": HOURS})
        conn.execute(COMPARE["sql_hourly"], {"recompute_hours": 0, "as_of": START + timedelta(hours=HOURS)})
        by_sql = summary(conn)
        conn.execute(COMPARE["reset_rollups"])

        for h in range(HOURS):
            jobs.rollup_hour(db_url, START + timedelta(hours=h))
        by_python = summary(conn)

    assert [r["messages"] + r["responses"] for r in by_sql] == [ROWS_PER_HOUR] * HOURS
    assert by_python == by_sql
