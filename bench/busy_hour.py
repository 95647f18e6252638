"""The busy hour at a million users: the hourly rollup's read of it against a plain GROUP BY,
part by part, and the alternatives for its distinct users:

    .venv/bin/python bench/busy_hour.py [--runs 15] [--no-write]

One throwaway embedded cluster (bench/scale.py's settings), the demo source, one UTC day of 2.4M
PAM events whose 03:00 hour holds 100,000 events of about 95,000 users (bench/busy_hour.sql).
Each query runs `--runs` times, all of them interleaved in one session (jit off), and the median
is kept. Then the same with an index of ours on (UTC hour, user_id), and that index's cost per
event written. Results replace the `## The busy hour at a million users` section of
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scale  # noqa: E402
from bench.sections import write_section  # noqa: E402
from wheels_core import queries  # noqa: E402
from wheels_jobs.embedded import Cluster  # noqa: E402
from wheels_jobs.migrate import migrate  # noqa: E402

HOUR = datetime(2026, 11, 25, 3, tzinfo=timezone.utc)
# The floor, the rollup and one GROUP BY of the same measures, as bench/scale.py runs them.
Q = {"floor": scale.Q["busy_hour_floor"], "rollup": scale.Q["busy_hour"],
     "same_measures": scale.Q["busy_hour_same_measures"],
     **queries.parse((Path(__file__).parent / "busy_hour.sql").read_text())}
MEASURED = {  # query: what it is
    "floor": "the floor: a plain GROUP BY with percentile_cont (the target's)",
    "rollup": "the rollup: `wheels._pam_stats` (one grouped read, distinct users apart)",
    "same_measures": "one plain GROUP BY of the same measures, count(DISTINCT) included (no intents)",
    "read": "part: a bare read of the hour",
    "grouped": "part: the grouped read (kind, success, time, intent)",
    "distinct_users": "part: distinct users, `count(DISTINCT user_id)`",
    "distinct_hashes": "instead: distinct 64-bit hashes of the ids (exact up to collisions)",
    "estimated_users": "instead: an estimate from the 1,024 smallest hashes (k minimum values)",
}
WITH_INDEX = {"distinct_users_by_hour_index": "instead: distinct users by an index of ours on (UTC hour, user_id)"}


def medians(conn: psycopg.Connection, names: list[str], runs: int) -> dict[str, tuple[float, str]]:
    """Median seconds of each query over `runs` interleaved rounds, and its first value."""
    seconds: dict[str, list[float]] = {n: [] for n in names}
    values: dict[str, str] = {}
    for _ in range(runs):
        for name in names:
            started = time.perf_counter()
            row = conn.execute(Q[name], {"hour": HOUR} if "%(hour)s" in Q[name] else None).fetchone()
            seconds[name].append(time.perf_counter() - started)
            values[name] = str(row[0])
    return {n: (statistics.median(seconds[n]), values[n]) for n in names}


def insert_seconds(conn: psycopg.Connection) -> float:
    """Median of 3 INSERTs of Q["writes"], each rolled back."""
    times = []
    for _ in range(3):
        with conn.transaction(force_rollback=True):
            started = time.perf_counter()
            conn.execute(Q["writes"])
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    started, when = time.perf_counter(), datetime.now(timezone.utc)
    folder = Path(tempfile.mkdtemp(prefix="wheels-busy-hour-"))
    folder.chmod(0o755)
    cluster = Cluster(folder / "data", database="wheels", settings=scale.SERVER_SETTINGS)
    try:
        url = cluster.ensure_running()
        migrate(url, "demo", schedule_jobs=False)
        with psycopg.connect(url, autocommit=True) as conn:
            for step in ("partitions", "day", "vacuum"):
                conn.execute(Q[step])
            hour = conn.execute(Q["the_hour"]).fetchone()
            conn.execute("SET jit = off")
            plain = medians(conn, list(MEASURED), args.runs)
            without_index = insert_seconds(conn)
            conn.execute(Q["hour_index"])
            conn.execute(Q["vacuum"])
            indexed = medians(conn, ["floor", *WITH_INDEX], args.runs)
            with_index = insert_seconds(conn)
            conn.execute(Q["drop_hour_index"])
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)

    floor = plain["floor"][0]
    lines = [f"| {what} | {plain[n][0] * 1000:.1f} | {plain[n][0] / floor:.2f}x | `{plain[n][1]}` |"
             for n, what in MEASURED.items()]
    lines += [f"| {what} (the floor in that round: {indexed['floor'][0] * 1000:.1f} ms) | "
              f"{indexed[n][0] * 1000:.1f} | {indexed[n][0] / indexed['floor'][0]:.2f}x | `{indexed[n][1]}` |"
              for n, what in WITH_INDEX.items()]
    per_event_us = (with_index - without_index) / 200_000 * 1e6
    body = f"""## The busy hour at a million users

Command: `.venv/bin/python bench/busy_hour.py --runs {args.runs}` ({when:%Y-%m-%d %H:%M} UTC,
{(time.perf_counter() - started) / 60:.1f} min). Machine: {scale.machine()}, PostgreSQL 15, bench/scale.py's
settings. The demo source with one UTC day of 2.4M PAM events; its busy hour holds {hour[0]:,} events of
{hour[1]:,} users, as at a million users (bench/busy_hour.sql). Medians of {args.runs} runs, every query
interleaved in one session, `jit` off; "first value" is the query's first column, to compare answers.

| query over the busy hour | ms | of the floor | first value |
| --- | ---: | ---: | --- |
{chr(10).join(lines)}

The index's cost per event written: {per_event_us:+.1f} µs (200,000 events in one INSERT: {without_index:.2f} s
without it, {with_index:.2f} s with it, medians of 3, rolled back).
"""
    print(body)
    if not args.no_write:
        write_section(body)


if __name__ == "__main__":
    main()
