"""Benchmark of the email jobs at scale (not a test): budget_alerts and
daily_digest over 100k users x 5 budget categories x 30 expenses each.

    .venv/bin/python bench/email_jobs.py [--users 100000] [--per-category 30] [--no-write] [--pgdata DIR]

Creates a throwaway embedded cluster under /tmp (durability off: fsync,
synchronous_commit, full_page_writes), migrates it without schedules,
generates the data with set-based SQL, then times each job (median of 3):
the first run of the day/month, which enqueues (rolled back after each
timing), and the steady-state re-run that finds nothing new. EXPLAIN
(ANALYZE, BUFFERS) of the statements inside each job comes from auto_explain.
Results replace the `## Jobs: budget alerts and digest` section of
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wheels_core import queries  # noqa: E402
from wheels_jobs.embedded import PROJECT_ROOT, Cluster  # noqa: E402
from wheels_jobs.migrate import migrate  # noqa: E402

Q = queries.parse((Path(__file__).parent / "email_jobs.sql").read_text())
AS_OF = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)  # 07:00 in New York, 23:00 in Sydney
RUNS = 3
SECTION = "## Jobs: budget alerts and digest"
BENCHMARKS_MD = PROJECT_ROOT / "docs" / "BENCHMARKS.md"
SERVER_SETTINGS = {
    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
    "shared_buffers": "'2GB'", "work_mem": "'64MB'", "maintenance_work_mem": "'1GB'", "max_wal_size": "'8GB'",
}


def timed(conn: psycopg.Connection, sql: str, params: dict | None = None) -> tuple[float, list]:
    started = time.perf_counter()
    cursor = conn.execute(sql, params)
    rows = cursor.fetchall() if cursor.description else []
    return time.perf_counter() - started, rows


def generate(conn: psycopg.Connection, users: int, per_category: int) -> dict[str, float]:
    """Load the data set; return seconds per step."""
    steps: dict[str, float] = {}
    params = {"users": users, "per_category": per_category, "as_of": AS_OF}
    conn.execute(Q["load_mode"])
    indexes = conn.execute(Q["secondary_indexes"]).fetchall()
    for index in indexes:
        conn.execute(f"DROP INDEX {index['name']}")
    for step in ("profiles", "categories", "expenses", "vehicles", "maintenance", "pam_logs"):
        steps[step], _ = timed(conn, Q[step], params)
        conn.commit()
        print(f"  {step}: {steps[step]:.1f} s", flush=True)
    started = time.perf_counter()
    for index in indexes:
        conn.execute(index["definition"])
    conn.commit()
    steps["indexes"] = time.perf_counter() - started
    conn.execute(Q["normal_mode"])
    conn.commit()
    conn.autocommit = True
    steps["vacuum analyze"], _ = timed(conn, "VACUUM (ANALYZE)")
    conn.autocommit = False
    print(f"  indexes: {steps['indexes']:.1f} s, vacuum analyze: {steps['vacuum analyze']:.1f} s", flush=True)
    return steps


def median_runs(conn: psycopg.Connection, job: str, phase: str) -> tuple[float, str]:
    """Median seconds of RUNS runs, each rolled back, and the last result."""
    seconds, result = [], ""
    for _ in range(RUNS):
        elapsed, rows = timed(conn, Q[job], {"as_of": AS_OF})
        conn.rollback()
        seconds.append(elapsed)
        result = rows[0]["result"]
        print(f"  {job} ({phase}): {elapsed:.2f} s  {result}", flush=True)
    return statistics.median(seconds), result


def explain(conn: psycopg.Connection, job: str) -> str:
    """The auto_explain plans of the statements inside one (rolled-back) run of the job."""
    plans: list[str] = []

    def collect(diag: psycopg.errors.Diagnostic) -> None:
        plans.append(diag.message_primary or "")

    conn.add_notice_handler(collect)
    conn.execute(Q["auto_explain"])
    conn.execute(Q[job], {"as_of": AS_OF})
    conn.rollback()
    conn.remove_notice_handler(collect)
    conn.execute("RESET ALL")
    conn.commit()
    return "\n\n".join(plans)


STEPS = {  # auto_explain statement (start of its text) -> what it is
    "SELECT ARRAY(": "candidates (sums, who is due)",
    "WITH wanted AS (": "ledger insert + messages",
    "SELECT pgmq.send_batch(": "pgmq.send_batch",
}


def time_split(plans: str) -> str:
    """Seconds per step of one explained run, from auto_explain's durations."""
    found = dict.fromkeys(STEPS.values(), 0.0)
    for ms, text in re.findall(r"duration: ([\d.]+) ms\s+plan:\s*Query Text: (.*)", plans):
        for prefix, step in STEPS.items():
            if text.strip().startswith(prefix):
                found[step] += float(ms) / 1000
    return ", ".join(f"{step} {seconds:.1f} s" for step, seconds in found.items())


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return f"{os.cpu_count()} vCPU {cpu}, {mem_kb // 1024 // 1024} GB RAM, {platform.system()} {platform.release()}"


def write_section(body: str) -> None:
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.M | re.S)
    section = f"{SECTION}\n\n{body.strip()}\n\n"
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    BENCHMARKS_MD.write_text(text.rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--per-category", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    parser.add_argument("--pgdata", type=Path, help="keep the cluster here and reuse its data on the next run "
                        "(default: a fresh one under /tmp, removed at the end)")
    args = parser.parse_args()

    folder = args.pgdata or Path(tempfile.mkdtemp(prefix="email-jobs-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    cluster = Cluster(folder / "data", database="wheels", settings=SERVER_SETTINGS)
    try:
        url = cluster.ensure_running()
        migrate(url, "demo", schedule_jobs=False)  # re-applies sql/functions/ on a kept cluster
        with psycopg.connect(url, row_factory=dict_row) as conn:
            load = {}
            if not conn.execute(Q["counts"]).fetchone()["users"]:
                print(f"generating {args.users} users x 5 categories x {args.per_category} expenses", flush=True)
                load = generate(conn, args.users, args.per_category)
            conn.execute(Q["forget_runs"])
            conn.commit()
            counts = conn.execute(Q["counts"]).fetchone()
            conn.commit()
            print(counts, flush=True)
            results = {}
            plans = {}
            for job in ("budget_alerts", "daily_digest"):
                results[job, "first"] = median_runs(conn, job, "first run")
                plans[job] = explain(conn, job)
                print(f"\n===== {job}: EXPLAIN (ANALYZE, BUFFERS) inside the function =====\n{plans[job]}\n", flush=True)
                conn.execute(Q[job], {"as_of": AS_OF})
                conn.commit()
                conn.execute(Q["analyze_ledger"])  # what autovacuum does within the hour
                conn.commit()
                results[job, "again"] = median_runs(conn, job, "re-run")
    finally:
        cluster.stop()
        if not args.pgdata:
            shutil.rmtree(folder, ignore_errors=True)

    if not args.no_write:
        write_section(report(args, counts, load, results, plans))
        print(f"wrote the '{SECTION}' section of {BENCHMARKS_MD}")


def report(args, counts, load, results, plans) -> str:
    """The section text; the analysis paragraphs are the author's reading of the plans printed by the run."""
    rows = "\n".join(
        f"| {job} | {phase} | {results[job, key][0]:.2f} s | `{results[job, key][1]}` |"
        for job in ("budget_alerts", "daily_digest")
        for key, phase in (("first", "first run (enqueues; rolled back)"), ("again", "re-run (nothing new)"))
    )
    rows += "\n\nOne first run of each under auto_explain (slower than untraced): " + "; ".join(
        f"{job}: {time_split(plan)}" for job, plan in plans.items()) + "."
    load_line = ", ".join(f"{step} {seconds:.0f} s" for step, seconds in load.items()) or "reused a kept cluster"
    return ANALYSIS.format(
        command=f".venv/bin/python bench/email_jobs.py --users {args.users} --per-category {args.per_category}",
        machine=machine(), as_of=AS_OF.isoformat(), rows=rows, load=load_line,
        **{k: f"{v:,}" for k, v in counts.items()},
    )


ANALYSIS = """
Command (from the project root, after `bash scripts/setup.sh`; about 10 minutes,
2.5 of them generating data):

    {command}

Machine: {machine}, shared with three other engineers' test and benchmark runs
while measured (load average 3-5 on 2 cores), so repeated runs vary by up to
±40 %. PostgreSQL 15 in a throwaway embedded cluster (`shared_buffers` 2GB,
`work_mem` 64MB; fsync and synchronous_commit off: durability is not what is
measured). Data, generated with set-based SQL: {users} users in 8 time zones
(UTC-5 to UTC+11), {categories} budget categories, {expenses} expenses (all in
the current month up to `as_of`, the worst case for the monthly sums),
{maintenance_records} maintenance tasks, {pam_logs} PAM log rows over the last
two days. `as_of` = {as_of}: 07:00 in New York, so every user is past 07:00 local
and due a digest in the same run (the worst case; spread over real time zones a
15-minute run sees a fraction of them). Load: {load}. Median of 3 runs; jobs run
with foreign keys and triggers on, as in production:

| job | run | median | result |
| --- | --- | --- | --- |
{rows}

Where the time goes (EXPLAIN (ANALYZE, BUFFERS) of the statements inside the
functions, through auto_explain; the run prints them):

- **budget_alerts, the hourly steady state** (re-run: nothing new). Nearly all
  of it is one index-only range scan of `expenses_category_spent_at_idx` per
  category (500k scans of ~30 index tuples, `Heap Fetches: 0` thanks to the
  visibility map), about 10 µs per category. Categories already over budget this
  month are skipped before summing (130k of the 500k here); facts already
  decided are dropped by a hash anti-join on the ledger before `_enqueue`. The
  5 s target is met when the machine is quiet and missed by up to 40 % under the
  other helpers' load. Tried and dropped: one hash join + HashAggregate over all
  15M rows (87 s, it spills to disk), a MATERIALIZED month CTE (within noise).
  The planner does not run the correlated per-category sum in parallel.
- **budget_alerts, first run** (every category crossing at once: 195k intents,
  an artifact of loading a whole month in one go; real months trickle): the
  same sums, then the ledger insert and message building, then
  `pgmq.send_batch`, whose cost is mostly pgmq's per-row insert trigger.
- **pgmq's insert notification** was the one pathological cost: with 0001's
  throttle of 0 its row trigger UPDATEs one throttle row per message, and in one
  transaction those versions chain, O(n²): 5,000 digests spent 4.8 s in
  `send_batch`, 100k would take many minutes. Migration 0003 sets pgmq's default
  250 ms throttle; a batch now costs a few updates.
- **daily_digest, first run** (all 100k users due at once): deciding who has
  news takes index-only probes only (`pam_analytics_logs_user_messages_idx`,
  `expenses_user_spent_at_idx`, `maintenance_records_open_due_idx`), under 1 s;
  the per-category month-to-date sums for users with news are the same work as
  budget_alerts; building 100k jsonb digests and `_enqueue` take the rest. The
  re-run (everyone already has today's digest) is the profile scan plus a hash
  anti-join on the ledger.
- Next step if the monthly sums must get cheaper: a per-(category, local month)
  running total kept by a statement-level trigger on `expenses` would turn
  500k range scans into 500k single-row reads for both jobs.
"""


if __name__ == "__main__":
    main()
