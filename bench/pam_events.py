"""Benchmark of wheels_source.log_pam_event, the app's call per PAM chat event (not a test).

    .venv/bin/python bench/pam_events.py [--calls 100000] [--round-trips 5000] [--no-write]

On a throwaway embedded cluster under /tmp (fsync and synchronous_commit off,
so commits do not hide the cost being measured), migrated without schedules:

1. server side: `calls` calls in one transaction from a PL/pgSQL loop, against
   the same number of plain INSERTs of the same rows: the function's own cost;
2. from Python: `round-trips` calls, one autocommit statement each over
   loopback TCP, as the app makes them (psycopg 3, prepared after 5 uses).

Each is the median of 3 runs on an emptied table. Results replace the
`## PAM event logging` section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wheels_jobs.embedded import PROJECT_ROOT, Cluster  # noqa: E402
from wheels_jobs.migrate import migrate  # noqa: E402

RUNS = 3
SECTION = "## PAM event logging"
BENCHMARKS_MD = PROJECT_ROOT / "docs" / "BENCHMARKS.md"
SERVER_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

LOOP = """
DO $$
BEGIN
    FOR i IN 1..{calls} LOOP
        {statement};
    END LOOP;
END
$$
"""
# Half messages, half responses, as in a chat: messages also feed daily_digest's partial index.
EVENT = "CASE WHEN i % 2 = 0 THEN 'message' ELSE 'response' END"
CALL = f"PERFORM wheels_source.log_pam_event(gen_random_uuid(), {EVENT}, 'weather', 812, true, NULL)"
INSERT = ("INSERT INTO pam_analytics_logs (user_id, event_type, intent, response_time_ms, success, error) "
          f"VALUES (gen_random_uuid(), {EVENT}, 'weather', 812, true, NULL)")


def median_s(conn: psycopg.Connection, work) -> float:
    times = []
    for _ in range(RUNS):
        conn.execute("TRUNCATE pam_analytics_logs")
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(url: str, calls: int, round_trips: int) -> dict[str, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        function_s = median_s(conn, lambda: conn.execute(LOOP.format(calls=calls, statement=CALL)))
        insert_s = median_s(conn, lambda: conn.execute(LOOP.format(calls=calls, statement=INSERT)))
        user = uuid.uuid4()

        def app_calls() -> None:
            for i in range(round_trips):
                conn.execute("SELECT wheels_source.log_pam_event(%s, %s, %s, %s, %s, %s)",
                             [user, "message" if i % 2 == 0 else "response", "weather", 812, True, None])
        client_s = median_s(conn, app_calls)
    return {"function_us": function_s / calls * 1e6, "insert_us": insert_s / calls * 1e6,
            "client_us": client_s / round_trips * 1e6}


def write_section(body: str) -> None:
    text = BENCHMARKS_MD.read_text()
    section = f"{SECTION}\n\n{body.strip()}\n\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.M | re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    BENCHMARKS_MD.write_text(text.rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--round-trips", type=int, default=5_000)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wheels-bench-pam-"))
    work.chmod(0o755)
    cluster = Cluster(work / "data", database="postgres", settings=SERVER_SETTINGS)
    try:
        url = cluster.ensure_running()
        migrate(url, "demo", schedule_jobs=False)
        r = measure(url, args.calls, args.round_trips)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    body = f"""
`wheels_source.log_pam_event` (issue 8), measured by `.venv/bin/python bench/pam_events.py` on
{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, 2 shared cores,
PostgreSQL with fsync and synchronous_commit off (commit cost excluded), median of {RUNS} runs.

| what | per call |
| --- | --- |
| `log_pam_event` inside one transaction ({args.calls:,} calls, PL/pgSQL loop) | {r['function_us']:.1f} µs |
| the same row by a plain `INSERT` (same loop) | {r['insert_us']:.1f} µs |
| `log_pam_event` from Python, one autocommit statement per call over loopback TCP ({args.round_trips:,} calls) | {r['client_us']:.0f} µs |

The function adds {r['function_us'] - r['insert_us']:.1f} µs to the insert it wraps (argument checks and
the SECURITY DEFINER switch); what the app waits for is the round trip and, on a
durable server, its commit's WAL flush, which the function does not change. No
trigger fires on pam_analytics_logs; the rollups read it later, by hour.
"""
    print(body)
    if not args.no_write:
        write_section(body)
        print(f"wrote the '{SECTION}' section of {BENCHMARKS_MD}")


if __name__ == "__main__":
    main()
