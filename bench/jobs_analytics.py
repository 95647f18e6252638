"""Benchmark of the analytics rollups and cleanup jobs (issue 3). On demand, not a test.

    .venv/bin/python bench/jobs_analytics.py

Creates a fresh embedded cluster in a temporary folder (default settings, pg_cron
preloaded), migrates it without schedules, generates one busy UTC day of PAM
events (2.4M rows, 100k an hour) with set-based SQL, then times each job the way
pg_cron calls it. Every timed run is its own transaction, rolled back, so every
run sees the same data; the median of RUNS runs is reported. Prints EXPLAIN
(ANALYZE, BUFFERS) of an hour's and a day's measures, and writes the numbers
into docs/BENCHMARKS.md between this benchmark's markers (its section only).
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from wheels_core import queries
from wheels_jobs.embedded import PROJECT_ROOT, Cluster
from wheels_jobs.migrate import migrate

log = logging.getLogger(__name__)

Q = queries.parse(Path(__file__).with_suffix(".sql").read_text(encoding="utf-8"))
RUNS = 3
BENCHMARKS = PROJECT_ROOT / "docs" / "BENCHMARKS.md"
SECTION = "## Jobs: analytics rollups and cleanup"
BEGIN_MARK = "<!-- bench/jobs_analytics.py: results -->"
END_MARK = "<!-- /bench/jobs_analytics.py: results -->"
COMMAND = ".venv/bin/python bench/jobs_analytics.py"
# Older than the 90-day log retention, so cleanup finds the whole day expired.
DAY_AGE_DAYS = 100


def timed(conn: psycopg.Connection, query: str, params: dict, *, setup: str | None = None) -> tuple[float, str]:
    """Median seconds of RUNS runs of one query, each in a transaction rolled back; and its result."""
    seconds = []
    result = ""
    for _ in range(RUNS):
        with conn.transaction(force_rollback=True):
            if setup:
                conn.execute(Q[setup], params)
            started = time.perf_counter()
            cursor = conn.execute(Q[query], params)
            seconds.append(time.perf_counter() - started)
            row = cursor.fetchone() if cursor.description else None
            result = str(next(iter(row.values()))) if row else cursor.statusmessage
    log.info("%s: %s s (runs %s): %s", query, f"{statistics.median(seconds):.3f}",
             ", ".join(f"{s:.3f}" for s in seconds), result)
    return statistics.median(seconds), result


def explain(conn: psycopg.Connection, query: str, params: dict) -> str:
    return "\n".join(row["QUERY PLAN"] for row in conn.execute(Q[query], params))


def machine(conn: psycopg.Connection) -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )
    server = conn.execute(Q["server"]).fetchone()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} cores ({model}), {server['version'].split(' on ')[0]}, "
            f"shared_buffers {server['shared_buffers']}, load average at the end {load} "
            f"(the machine is shared)")


def write_results(lines: list[str]) -> None:
    """Replace this benchmark's block in docs/BENCHMARKS.md; add the section if it is missing."""
    block = "\n".join([BEGIN_MARK, *lines, END_MARK])
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else "# Benchmarks\n"
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        text = head + block + rest.split(END_MARK, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{block}\n"
    BENCHMARKS.write_text(text, encoding="utf-8")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    folder = Path(tempfile.mkdtemp(prefix="wheels-bench-"))
    folder.chmod(0o755)  # reachable by the server's OS user when run as root
    cluster = Cluster(folder / "data", database="wheels_bench")
    try:
        url = cluster.ensure_running()
        migrate(url, "demo", schedule_jobs=False)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            run(conn)
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def run(conn: psycopg.Connection) -> None:
    day = date.today() - timedelta(days=DAY_AGE_DAYS)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    next_day = start + timedelta(days=1)
    busy_hour = start + timedelta(hours=23)

    started = time.perf_counter()
    conn.execute(Q["day_partition"], {"day": day})  # the day's own partition, as the partitions job makes it
    conn.execute(Q["generate_day"], {"day": start})
    conn.execute(Q["vacuum_logs"])
    log.info("generated 2.4M rows for %s in %.1f s", day, time.perf_counter() - started)

    results: list[tuple[str, float, str]] = []

    def measure(what: str, query: str, params: dict, **options) -> None:
        seconds, result = timed(conn, query, params, **options)
        results.append((what, seconds, result))

    measure("floor: plain GROUP BY + percentile_cont, one busy hour (100k rows)", "floor_hour", {"hour": busy_hour})
    progress = {"upto": next_day, "as_of": next_day + timedelta(minutes=5)}
    measure("analytics_hourly, one busy hour (100k rows)", "analytics_hourly",
            {**progress, "hours": 1}, setup="set_hourly_progress")
    measure("analytics_hourly, a normal run: 3-hour window (300k rows)", "analytics_hourly",
            {**progress, "hours": 3}, setup="set_hourly_progress")
    measure("analytics_hourly, first run: backfill of the day (2.4M rows)", "analytics_hourly_backfill",
            {"as_of": next_day + timedelta(minutes=5)}, setup="forget_hourly_progress")
    conn.execute(Q["analytics_hourly_backfill"], {"as_of": next_day + timedelta(minutes=5)})
    measure("analytics_daily, the day from its rows (2.4M rows)", "analytics_daily",
            {"as_of": next_day + timedelta(hours=2)})
    conn.execute(Q["analytics_daily"], {"as_of": next_day + timedelta(hours=2)})
    measure("alternative: 1% histograms of the day's 24 hours (extra work for analytics_hourly)",
            "histograms_of_hours", {"day": start})
    conn.execute(Q["histograms_of_hours"], {"day": start})
    measure("alternative: the day's percentiles from the 24 histograms", "percentiles_from_histograms", {})

    conn.execute(Q["settings_of_the_jobs"])
    print("\nEXPLAIN (ANALYZE, BUFFERS) of one busy hour's measures:\n" + explain(conn, "explain_hour", {"hour": busy_hour}))
    print("\nEXPLAIN (ANALYZE, BUFFERS) of the day's measures:\n" + explain(conn, "explain_day", {"day": start}))
    # cleanup commits as it goes (CALL wheels.run_job): timed once, the day retired for good.
    started = time.perf_counter()
    cleaned = conn.execute(Q["cleanup"]).fetchone()["result"]
    results.append(("cleanup of the expired day (2.4M rows: its partition detached and dropped), once",
                    time.perf_counter() - started, cleaned))

    exact = [float(v) for v in conn.execute(Q["exact_day_percentiles"], {"day": day}).fetchone()["pct"]]
    approximate = [float(v) for v in conn.execute(Q["percentiles_from_histograms"]).fetchone()["pct"]]
    errors = ", ".join(
        f"{name} {a:.1f} vs {e:.1f} ms ({(a - e) / e:+.2%})"
        for name, a, e in zip(("p50", "p95", "p99"), approximate, exact)
    )

    lines = [
        f"Command: `{COMMAND}` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, median of {RUNS} runs, "
        f"each run a transaction rolled back).",
        "",
        f"Machine: {machine(conn)}.",
        "",
        "| what | median s | result line |",
        "| --- | ---: | --- |",
        *(f"| {what} | {seconds:.3f} | `{result}` |" for what, seconds, result in results),
        "",
        f"Histogram accuracy on this day (histogram vs exact): {errors}.",
    ]
    write_results(lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
