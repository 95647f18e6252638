"""analytics_hourly and analytics_daily against a real database: boundaries, exact
percentiles, idempotence, late events inside and outside the window, empty tables."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import psycopg
import pytest
from psycopg.rows import dict_row

USERS = [uuid.UUID(int=n) for n in range(1, 6)]
MEASURES = (
    "messages", "responses", "distinct_users", "successes", "failures", "success_rate",
    "response_time_avg_ms", "response_time_p50_ms", "response_time_p95_ms", "response_time_p99_ms",
    "response_time_max_ms", "intents",
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def log(conn, created_at: datetime, *, event="response", user=USERS[0], intent=None, ms=None, success=None):
    conn.execute(
        "INSERT INTO pam_analytics_logs (created_at, user_id, event_type, intent, response_time_ms, success)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        [created_at, user, event, intent, ms, success],
    )


def log_many(conn, rows: list[tuple]) -> None:
    """rows of (created_at, user_id, event_type, intent, response_time_ms, success)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO pam_analytics_logs (created_at, user_id, event_type, intent, response_time_ms, success)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )


def hourly(conn, as_of: datetime, **kwargs) -> str:
    args = "".join(f", {name} => %({name})s" for name in kwargs)
    return conn.execute(f"SELECT wheels.analytics_hourly(as_of => %(as_of)s{args}) AS r", {"as_of": as_of, **kwargs}).fetchone()["r"]


def daily(conn, as_of: datetime) -> str:
    return conn.execute("SELECT wheels.analytics_daily(as_of => %s) AS r", [as_of]).fetchone()["r"]


def summary(conn) -> dict[datetime, dict]:
    return {row["hour"]: row for row in conn.execute("SELECT * FROM wheels.pam_hourly ORDER BY hour")}


def days(conn) -> dict[date, dict]:
    return {row["day"]: row for row in conn.execute("SELECT * FROM wheels.pam_daily ORDER BY day")}


def exact_percentile(values: list[int], fraction: Fraction) -> Fraction:
    """percentile_cont's definition: linear interpolation at fraction * (n - 1)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def assert_percentiles(row: dict, values: list[int]) -> None:
    for column, fraction in (("p50", Fraction(1, 2)), ("p95", Fraction(95, 100)), ("p99", Fraction(99, 100))):
        stored = Fraction(row[f"response_time_{column}_ms"])
        # Stored to one decimal: within half a tenth of the exact value.
        assert abs(stored - exact_percentile(values, fraction)) <= Fraction(1, 20), column


# -- analytics_hourly -------------------------------------------------------------


def test_events_land_in_their_utc_hour_and_the_hour_in_progress_waits(conn):
    conn.execute("SET TimeZone = 'Asia/Kolkata'")  # +05:30: local hours are not UTC hours
    for stamp in ("09:59:59.999999", "10:00:00", "10:59:59.999999", "11:00:00", "12:00:00"):
        log(conn, at(f"2026-11-30T{stamp}"), event="message")

    result = hourly(conn, at("2026-11-30T12:30:00"))

    assert result == "analytics_hourly: 3 hours upserted (3 changed) from 4 rows, 2026-11-30 09:00 .. 2026-11-30 12:00Z"
    assert {hour: row["messages"] for hour, row in summary(conn).items()} == {
        at("2026-11-30T09:00"): 1, at("2026-11-30T10:00"): 2, at("2026-11-30T11:00"): 1,
    }


def test_measures_match_an_independent_computation(conn):
    rng = random.Random(3)
    hour = at("2026-11-30T08:00")
    times = [rng.randint(50, 5000) for _ in range(997)] + [60_000]
    rows = []
    for n, ms in enumerate(times):
        user = USERS[n % 3]
        rows.append((hour + timedelta(seconds=n * 3.6), user, "message", ["trip", "fuel"][n % 2], None, None))
        rows.append((hour + timedelta(seconds=n * 3.6 + 1), user, "response", None, ms, n % 10 != 0))
    log_many(conn, rows)

    hourly(conn, at("2026-11-30T09:05"))

    row = summary(conn)[hour]
    assert (row["messages"], row["responses"], row["distinct_users"]) == (998, 998, 3)
    assert (row["successes"], row["failures"]) == (898, 100)
    assert float(row["success_rate"]) == pytest.approx(898 / 998, abs=0.00005)
    assert abs(Fraction(row["response_time_avg_ms"]) - Fraction(sum(times), len(times))) <= Fraction(1, 20)
    assert row["response_time_max_ms"] == 60_000
    assert row["intents"] == {"trip": 499, "fuel": 499}
    assert_percentiles(row, times)


def test_rerun_and_full_recompute_give_identical_rows(conn):
    for n in range(30):
        log(conn, at("2026-11-29T20:00") + timedelta(minutes=17 * n), ms=100 + 37 * n, success=n % 4 > 0,
            user=USERS[n % 5], intent="trip" if n % 3 else None)
    as_of = at("2026-11-30T06:05")
    hourly(conn, as_of)
    first = summary(conn)

    assert hourly(conn, as_of).endswith("2 hours upserted (0 changed) from 5 rows, 2026-11-30 03:00 .. 2026-11-30 06:00Z")
    conn.execute("DELETE FROM wheels.rollup_state")  # forget progress: the next run re-rolls all history
    assert hourly(conn, as_of).startswith("analytics_hourly: 9 hours upserted (0 changed) from 30 rows")
    assert summary(conn) == first  # computed_at included: unchanged hours are not rewritten


def test_late_events_count_within_the_recompute_window_only(conn):
    for stamp in ("08:10", "09:10", "10:10", "11:10"):
        log(conn, at(f"2026-11-30T{stamp}"), event="message")
    hourly(conn, at("2026-11-30T12:05"))
    before = summary(conn)

    # The next run's window is the last 3 complete hours: 10:00, 11:00 and 12:00.
    log(conn, at("2026-11-30T10:59"), event="message")  # late, inside the window
    log(conn, at("2026-11-30T09:59"), event="message")  # late, outside it
    result = hourly(conn, at("2026-11-30T13:05"))

    assert result == "analytics_hourly: 2 hours upserted (1 changed) from 3 rows, 2026-11-30 10:00 .. 2026-11-30 13:00Z"
    after = summary(conn)
    assert after[at("2026-11-30T10:00")]["messages"] == 2
    assert after[at("2026-11-30T09:00")] == before[at("2026-11-30T09:00")]
    assert after[at("2026-11-30T11:00")] == before[at("2026-11-30T11:00")]


def test_the_window_setting_and_catching_up_after_missed_runs(conn):
    conn.execute("UPDATE wheels.settings SET value = '1' WHERE name = 'analytics_recompute_hours'")
    log(conn, at("2026-11-30T01:30"), event="message")
    hourly(conn, at("2026-11-30T02:05"))
    for stamp in ("01:40", "02:30", "05:30"):
        log(conn, at(f"2026-11-30T{stamp}"), event="message")

    # The job missed three runs: it rolls up every hour since the last, but 01:00 is outside the window.
    result = hourly(conn, at("2026-11-30T06:05"))

    assert result == "analytics_hourly: 2 hours upserted (2 changed) from 2 rows, 2026-11-30 02:00 .. 2026-11-30 06:00Z"
    assert summary(conn)[at("2026-11-30T01:00")]["messages"] == 1


def test_empty_table_then_the_first_run_backfills_all_history(conn):
    assert hourly(conn, at("2026-11-30T12:05")) == "analytics_hourly: no events yet, nothing to roll up"
    assert conn.execute("SELECT count(*) AS n FROM wheels.rollup_state").fetchone()["n"] == 0
    assert summary(conn) == {}

    log(conn, at("2026-10-01T00:00"), event="message")  # two months ago, far outside any window
    log(conn, at("2026-11-30T11:00"), event="message")
    result = hourly(conn, at("2026-11-30T12:05"))

    assert result.startswith("analytics_hourly: 2 hours upserted (2 changed) from 2 rows, 2026-10-01 00:00 ..")
    assert list(summary(conn)) == [at("2026-10-01T00:00"), at("2026-11-30T11:00")]


def test_an_hour_whose_events_are_gone_loses_its_row(conn):
    log(conn, at("2026-11-30T10:15"), event="message")
    log(conn, at("2026-11-30T11:15"), event="message")
    hourly(conn, at("2026-11-30T12:05"))
    conn.execute("DELETE FROM pam_analytics_logs WHERE created_at < '2026-11-30T11:00Z'")

    assert hourly(conn, at("2026-11-30T12:05")).endswith(", 1 emptied hour removed")
    assert list(summary(conn)) == [at("2026-11-30T11:00")]


# -- analytics_daily --------------------------------------------------------------


def test_daily_percentiles_are_of_the_days_values_not_averages_of_hours(conn):
    quiet = [100 + n for n in range(10)]
    busy = [1000 + n for n in range(1000)]
    rows = [(at("2026-11-29T03:00") + timedelta(seconds=n), USERS[0], "response", None, ms, True) for n, ms in enumerate(quiet)]
    rows += [(at("2026-11-29T15:00") + timedelta(seconds=n), USERS[n % 2], "response", None, ms, True) for n, ms in enumerate(busy)]
    log_many(conn, rows)
    hourly(conn, at("2026-11-30T01:05"))

    assert daily(conn, at("2026-11-30T02:00")) == "analytics_daily: 1 day upserted from 1010 rows, 2026-11-29 .. 2026-11-29"

    day = days(conn)[date(2026, 11, 29)]
    assert_percentiles(day, quiet + busy)
    hours = list(summary(conn).values())
    averaged_p50 = sum(h["response_time_p50_ms"] for h in hours) / len(hours)
    assert abs(day["response_time_p50_ms"] - averaged_p50) > 400
    # Distinct users are not additive either: USERS[0] is active in both hours.
    assert (day["distinct_users"], sum(h["distinct_users"] for h in hours)) == (2, 3)
    assert day["response_time_max_ms"] == 1999 and day["responses"] == 1010


def test_daily_does_yesterday_and_days_whose_hours_changed(conn):
    for day in (10, 11, 12):
        for hour in (0, 12, 23):
            log(conn, at(f"2026-11-{day}T{hour:02}:30"), event="message", intent="trip")
    hourly(conn, at("2026-11-13T00:10"))

    # First run: every day the hourly rollup holds.
    assert daily(conn, at("2026-11-13T02:00")) == "analytics_daily: 3 days upserted from 9 rows, 2026-11-10 .. 2026-11-12"
    first = days(conn)
    assert daily(conn, at("2026-11-13T02:00")) == "analytics_daily: 1 day upserted from 3 rows, 2026-11-12 .. 2026-11-12"

    log(conn, at("2026-11-12T23:45"), event="message", intent="fuel")  # late, inside the hourly window
    log(conn, at("2026-11-11T12:45"), event="message", intent="fuel")  # late, outside it
    hourly(conn, at("2026-11-13T01:10"))
    log(conn, at("2026-11-13T09:00"), event="message")
    hourly(conn, at("2026-11-14T01:10"))

    result = daily(conn, at("2026-11-14T02:00"))

    assert result == "analytics_daily: 2 days upserted from 5 rows, 2026-11-12 .. 2026-11-13"
    after = days(conn)
    assert after[date(2026, 11, 12)]["intents"] == {"trip": 3, "fuel": 1}
    assert after[date(2026, 11, 11)] == first[date(2026, 11, 11)]
    assert after[date(2026, 11, 10)] == first[date(2026, 11, 10)]


def test_daily_on_empty_tables_writes_nothing_and_rerun_is_identical(conn):
    assert daily(conn, at("2026-11-30T02:00")) == "analytics_daily: 0 days upserted from 0 rows"
    assert days(conn) == {}

    log(conn, at("2026-11-29T10:00"), ms=120, success=True)
    daily(conn, at("2026-11-30T02:00"))
    first = {day: {k: row[k] for k in MEASURES} for day, row in days(conn).items()}
    daily(conn, at("2026-11-30T02:00"))
    assert {day: {k: row[k] for k in MEASURES} for day, row in days(conn).items()} == first
    assert first[date(2026, 11, 29)]["response_time_p99_ms"] == 120


# -- both rollups against a plain recomputation ---------------------------------------


def recomputed(conn, start: datetime, end: datetime) -> dict:
    """The measures of [start, end) as the rollups computed them before the hourly
    histograms: one plain aggregate over the raw rows, percentile_cont and count(DISTINCT)."""
    return conn.execute(
        """SELECT count(*) FILTER (WHERE event_type = 'message')::int AS messages,
                  count(*) FILTER (WHERE event_type = 'response')::int AS responses,
                  count(DISTINCT user_id)::int AS distinct_users,
                  count(*) FILTER (WHERE success)::int AS successes,
                  count(*) FILTER (WHERE NOT success)::int AS failures,
                  round((count(*) FILTER (WHERE success))::numeric / nullif(count(success), 0), 4) AS success_rate,
                  round(avg(response_time_ms) FILTER (WHERE event_type = 'response'), 1) AS response_time_avg_ms,
                  round(p.pct[1]::numeric, 1) AS response_time_p50_ms, round(p.pct[2]::numeric, 1) AS response_time_p95_ms,
                  round(p.pct[3]::numeric, 1) AS response_time_p99_ms,
                  max(response_time_ms) FILTER (WHERE event_type = 'response') AS response_time_max_ms,
                  coalesce((SELECT jsonb_object_agg(i.intent, i.n)
                            FROM (SELECT intent, count(*) AS n FROM pam_analytics_logs
                                  WHERE created_at >= %(start)s AND created_at < %(end)s AND intent IS NOT NULL
                                  GROUP BY intent) i), '{}') AS intents
           FROM pam_analytics_logs,
                (SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS pct
                 FROM pam_analytics_logs
                 WHERE created_at >= %(start)s AND created_at < %(end)s AND event_type = 'response') p
           WHERE created_at >= %(start)s AND created_at < %(end)s
           GROUP BY p.pct""",
        {"start": start, "end": end},
    ).fetchone()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hours_and_days_equal_a_recomputation_from_the_rows_with_late_events(conn, seed):
    """Random events over three days, each arriving up to two hours late (inside the
    hourly rollup's 3-hour window), the jobs run on their schedules as the events
    arrive: every hourly and daily row then equals a plain recomputation from the rows.
    Ties, NULL times, times on messages, no responses, hours without events included."""
    rng = random.Random(seed)
    users = [uuid.UUID(int=n) for n in range(1, 40)] + [None]
    first = at("2026-11-20T00:00")
    events = []  # (arrives, row)
    for hour in range(72):
        if rng.random() < 0.1:
            continue  # an hour without events
        no_responses = rng.random() < 0.1
        for _ in range(rng.randint(1, 60)):
            created = first + timedelta(hours=hour, seconds=rng.randrange(3600))
            event = "message" if no_responses or rng.random() < 0.5 else "response"
            ms = rng.choice([None, 0, 90, 100, 100, 100, 250, 251, 1200, rng.randint(0, 9000)])
            if event == "message" and rng.random() < 0.8:
                ms = None
            success = rng.choice([None, True, True, True, False]) if event == "response" else None
            intent = rng.choice([None, "trip", "fuel", "budget"])
            row = (created, rng.choice(users), event, intent, ms, success)
            late = timedelta(minutes=rng.choice([0, 0, 0, 1, 30, 90, 119]))
            events.append((created + late, row))
    events.sort(key=lambda e: e[0])

    now = first
    while now <= first + timedelta(days=3, hours=4):
        now += timedelta(hours=1)
        arrived = [row for arrives, row in events if now - timedelta(hours=1) < arrives <= now]
        if arrived:
            log_many(conn, arrived)
        hourly(conn, now + timedelta(minutes=5))
        if now.hour == 2:
            daily(conn, now)

    logged = sorted({row[0].replace(minute=0, second=0, microsecond=0) for _, row in events})
    stored = summary(conn)
    assert sorted(stored) == logged
    for hour, row in stored.items():
        assert {k: row[k] for k in MEASURES} == recomputed(conn, hour, hour + timedelta(hours=1)), hour
    stored_days = days(conn)
    assert sorted(stored_days) == [date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)]
    for day, row in stored_days.items():
        start = datetime.combine(day, datetime.min.time(), UTC)
        assert {k: row[k] for k in MEASURES} == recomputed(conn, start, start + timedelta(days=1)), day
        # A day from its hours and from its rows: the same numbers and histogram.
        from_hours = conn.execute("SELECT * FROM wheels._pam_stats_of_hours(%s, %s)", [start, start + timedelta(days=1)]).fetchone()
        from_rows = conn.execute("SELECT * FROM wheels._pam_stats(%s, %s)", [start, start + timedelta(days=1)]).fetchone()
        assert from_hours == from_rows, day


def test_histogram_percentiles_are_percentile_cont(conn):
    rng = random.Random(5)
    for n in (1, 2, 3, 7, 100, 1001):
        values = [rng.choice([rng.randint(0, 50), rng.randint(0, 100_000)]) for _ in range(n)]
        exact, from_histogram = conn.execute(
            """SELECT (SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY v) FROM unnest(%(v)s::int[]) v),
                      (SELECT ARRAY[p.p50, p.p95, p.p99]
                       FROM (SELECT array_agg(v ORDER BY v) AS times, array_agg(c::int ORDER BY v) AS counts
                             FROM (SELECT v, count(*) AS c FROM unnest(%(v)s::int[]) v GROUP BY v) g) h,
                            wheels._histogram_percentiles(h.times, h.counts) p)""",
            {"v": values}).fetchone().values()
        assert from_histogram == exact, n  # float8s, to the bit
    assert conn.execute("SELECT count(*) AS n FROM wheels._histogram_percentiles('{}', '{}')").fetchone()["n"] == 0
