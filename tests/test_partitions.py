"""The demo app's PAM log, partitioned by UTC day (sql/0009_day_partitions.sql): the
`partitions` job creates days ahead and moves rows that landed in the DEFAULT partition,
cleanup retires whole expired days and trims the DEFAULT partition, the rollups read
only the partitions of the hours they compute, and a demo database from before keeps
its events."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.rows import dict_row, tuple_row

from wheels_jobs.migrate import migrate

# Reads the calendar (today's partitions): also run at other instants (tests/test_any_instant.py).
pytestmark = pytest.mark.clock


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
        yield c


def days(conn) -> dict:
    """{day or None (DEFAULT): rows} of the log's partitions."""
    found = {}
    for p in conn.execute("SELECT partition::text AS p, day FROM wheels.day_partitions('pam_analytics_logs')"):
        found[p["day"]] = conn.execute(f"SELECT count(*) AS n FROM {p['p']}").fetchone()["n"]
    return found


def log_at(conn, at: datetime, n: int = 1) -> None:
    conn.execute("INSERT INTO pam_analytics_logs (created_at, event_type, response_time_ms)"
                 " SELECT %s, 'response', 100 FROM generate_series(1, %s)", [at, n])


def test_days_exist_a_week_ahead_and_rows_from_before_a_day_existed_move_in(conn):
    # The template database was migrated when the session began, maybe yesterday (a run
    # across midnight): the job's daily run brings the days up to today's week first.
    conn.execute("CALL wheels.run_job('partitions')")
    today = datetime.now(timezone.utc).date()
    assert sorted(d for d in days(conn) if d and d >= today) == [today + timedelta(days=i) for i in range(8)]
    later = datetime.combine(today + timedelta(days=9), datetime.min.time(), timezone.utc) + timedelta(hours=5)
    log_at(conn, later, 3)  # no partition for that day yet: the DEFAULT one takes it, the insert never fails
    assert days(conn)[None] == 3
    conn.execute("UPDATE wheels.settings SET value = '10' WHERE name = 'partition_days_ahead'")
    result = conn.execute("CALL wheels.run_job('partitions')").fetchone()["result"]
    assert result == (f"partitions: created pam_analytics_logs: {today + timedelta(days=8)} .. "
                      f"{today + timedelta(days=10)}")
    assert (days(conn)[None], days(conn)[later.date()]) == (0, 3)
    assert conn.execute("CALL wheels.run_job('partitions')").fetchone()["result"] == (
        "partitions: every day exists already")


def test_cleanup_retires_whole_expired_days_and_trims_the_default_partition(conn):
    today = datetime.now(timezone.utc).date()
    old = [today - timedelta(days=d) for d in (95, 92, 91, 90)]
    conn.execute("SELECT wheels.create_day_partitions(%s, %s)", [old[0], old[-1]])
    for d in old:
        log_at(conn, datetime.combine(d, datetime.min.time(), timezone.utc) + timedelta(hours=12), 4)
    log_at(conn, datetime.now(timezone.utc) - timedelta(days=200), 2)  # no day of its own: DEFAULT
    result = conn.execute("CALL wheels.run_job('cleanup')").fetchone()["result"]
    # Retention 90 days: a day goes once its end is 90 days old; 90 days ago is not over yet.
    assert result.startswith(f"cleanup: deleted 5 day partitions of public.pam_analytics_logs ({old[0]} .. {old[2]}), "
                             "2 public.pam_analytics_logs rows in 1 batch")
    left = days(conn)
    assert (old[-1] in left, min(d for d in left if d), left[None]) == (True, old[-1], 0)


DAY_TABLES = ("SELECT c.relname, c.relispartition FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace"
              " AND c.relkind = 'r' AND c.relname ~ '^pam_analytics_logs_p[0-9]{8}$'")


def test_a_retired_day_is_detached_first_and_dropped_after_and_a_crash_between_leaves_nothing(conn):
    today = datetime.now(timezone.utc).date()
    old = [today - timedelta(days=d) for d in (93, 92)]
    conn.execute("SELECT wheels.create_day_partitions(%s, %s)", [old[0], old[-1]])
    for d in old:
        log_at(conn, datetime.combine(d, datetime.min.time(), timezone.utc) + timedelta(hours=12), 3)
    # As a crash between the two transactions leaves it: the oldest day detached, not dropped.
    assert conn.execute("SELECT wheels.retire_day_partition('public.pam_analytics_logs') AS day").fetchone()["day"] == old[0]
    detached = f"pam_analytics_logs_p{old[0]:%Y%m%d}"
    assert {r["relname"]: r["relispartition"] for r in conn.execute(DAY_TABLES)}[detached] is False
    assert old[0] not in days(conn)
    result = conn.execute("CALL wheels.run_job('cleanup')").fetchone()["result"]
    assert result.startswith(f"cleanup: deleted 1 day partition of public.pam_analytics_logs ({old[1]})"), result
    # Neither the day a crash left nor the one this run retired is left, detached or attached.
    left = {r["relname"]: r["relispartition"] for r in conn.execute(DAY_TABLES)}
    assert detached not in left and f"pam_analytics_logs_p{old[1]:%Y%m%d}" not in left
    assert all(left.values())


def executed_partitions(conn, query: str, params: list, *, nested: bool = False) -> set[str]:
    """The log partitions a query's plan really scanned (EXPLAIN ANALYZE: loops > 0); nested:
    those of the statements inside the functions it calls instead (auto_explain)."""
    if nested:
        plans = []
        conn.add_notice_handler(lambda notice: plans.append(notice.message_primary))
        conn.execute("LOAD 'auto_explain'")
        conn.execute("SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;"
                     " SET auto_explain.log_nested_statements = on; SET auto_explain.log_format = json;"
                     " SET client_min_messages = log")
        try:
            conn.execute(query, params)
        finally:
            conn.execute("RESET client_min_messages; SET auto_explain.log_min_duration = -1")
        nested_plans = [json.loads(p.split("plan:", 1)[1]) for p in plans if "plan:" in p][:-1]  # the last: the query's own
        return set().union(*(plan_partitions([p]) for p in nested_plans))
    with conn.cursor(row_factory=tuple_row) as cur:
        [plan] = cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()
    return plan_partitions(plan)


def plan_partitions(plan: list) -> set[str]:
    """The log partitions (the demo's log, the PAM event feed) an EXPLAIN ANALYZE (JSON) plan scanned."""
    scanned = set()

    def walk(node: dict) -> None:
        if node.get("Relation Name", "").startswith(("pam_analytics_logs", "pam_event_feed")) and node.get("Actual Loops", 0) > 0:
            scanned.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)
    walk(plan[0]["Plan"])
    return scanned


def test_the_rollups_read_only_the_partitions_of_their_hours(conn):
    today = datetime.now(timezone.utc).date()
    conn.execute("SELECT wheels.create_day_partitions(%s, %s)", [today - timedelta(days=3), today])
    for d in range(4):
        log_at(conn, datetime.combine(today - timedelta(days=d), datetime.min.time(), timezone.utc) + timedelta(hours=1))
    hour = datetime.combine(today - timedelta(days=2), datetime.min.time(), timezone.utc) + timedelta(hours=1)
    name = f"pam_analytics_logs_p{hour:%Y%m%d}"
    # One hour with known bounds: pruned when planned.
    assert executed_partitions(conn, "SELECT * FROM wheels._pam_stats(%s, %s)", [hour, hour + timedelta(hours=1)]) == {name}
    # analytics_hourly's shape: hours from generate_series, bounds known only while running.
    assert executed_partitions(
        conn, "SELECT h.hour, m.* FROM generate_series(%s::timestamptz, %s, interval '1 hour') h(hour)"
              " CROSS JOIN LATERAL wheels._pam_stats(h.hour, h.hour + interval '1 hour') m",
        [hour - timedelta(hours=1), hour]) == {name}
    # A day, as analytics_daily reads it: from its rows, or its distinct users when it adds up its hours.
    assert executed_partitions(conn, "SELECT * FROM wheels._pam_stats(%s, %s)", [hour.date(), hour.date() + timedelta(days=1)]) == {name}
    conn.execute("SELECT wheels.analytics_hourly()")
    day = [hour.date(), hour.date() + timedelta(days=1)]
    assert executed_partitions(conn, "SELECT * FROM wheels._pam_stats_of_hours(%s, %s)", day) == set()
    assert executed_partitions(conn, "SELECT * FROM wheels._pam_stats_of_hours(%s, %s)", day, nested=True) == {name}


def test_a_demo_database_from_before_keeps_its_events(empty_db_url):
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        # The demo PAM log as it was: one unpartitioned table.
        conn.execute("""CREATE TABLE public.pam_analytics_logs (
            id bigint GENERATED ALWAYS AS IDENTITY, created_at timestamptz NOT NULL DEFAULT now(), user_id uuid,
            event_type text NOT NULL CHECK (event_type IN ('message', 'response')), intent text,
            response_time_ms int CHECK (response_time_ms >= 0), success boolean, error text,
            PRIMARY KEY (created_at, id))""")
        conn.execute("INSERT INTO pam_analytics_logs (created_at, event_type)"
                     " SELECT now() - i * interval '5 hours', 'message' FROM generate_series(0, 9) i")
    migrate(empty_db_url, "demo", schedule_jobs=False)
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'pam_analytics_logs'::regclass").fetchone()[0] == "p"
        assert conn.execute("SELECT count(*), max(id) FROM pam_analytics_logs").fetchone() == (10, 10)
        assert conn.execute("INSERT INTO pam_analytics_logs (event_type) VALUES ('message') RETURNING id").fetchone()[0] == 11
