"""Scale benchmark (issue 13): every job at 10k, 100k and 1M users on one PostgreSQL.

    .venv/bin/python bench/scale.py [--users 10000 100000 1000000] [--changes 10000] [--source demo|supabase-wheels]
                                    [--resum-limit 120] [--no-write]

One throwaway embedded cluster under /tmp (durability off; shared_buffers
4GB, work_mem 64MB), migrated with the demo source, grown in place from one
size to the next with set-based SQL: per user 5 budgets, 6 expenses per
budget this month, a vehicle with 4 fills and a maintenance task, and a week
of PAM events (2.4 a day: 2.4M a day at a million users), users spread over
24 zones, one per hour of offset. At each size it measures each job's first
run and its steady state (median of 3, each rolled back unless said):

- budget_state_rebuild (the state summed from scratch, as at install);
- budget_alerts: first run (every budget, after the rebuild), the steady
  state (an hour with `--changes` new expenses written through the triggers,
  and an hour with none), and the old re-sum (bench/budget_alerts_resum.sql) side by
  side (stopped after `--resum-limit` seconds, 120 by default: its time is then a lower bound);
- the triggers' cost per app write (the same INSERTs with and without them);
- daily_digest for one window (the users of one of the 24 zones): its first run (at most
  digest_batch_users users) and every run, a minute apart, until the zone is decided;
- the PAM rollups (a busy hour against a plain GROUP BY, and beside one GROUP
  BY of the same measures; a normal hourly run, a day) and retiring a whole
  day's partition;
- cleanup, partitions, maintenance_reminders' first run, the next hourly one and one a day later,
  and fuel_consumption's first run (every vehicle) and steady state
  (`--changes` new fills through the triggers);

with each run's backend peak memory, and the growth exponent between sizes
(log(t2/t1) / log(n2/n1): 0 means the size does not matter, 1 linear).
With `--source supabase-wheels` the same data goes into the wheels app's own
tables on the Supabase-shaped test database (tests/supabase_support.py: no
index of ours on them, the PAM log unpartitioned as the app keeps it), and
the section is `## Scale on supabase-wheels`. Results replace the `## Scale:
one PostgreSQL, 10k to 1M users` section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sections import write_section  # noqa: E402
from wheels_core import queries  # noqa: E402
from wheels_jobs.embedded import Cluster  # noqa: E402
from wheels_jobs.migrate import migrate  # noqa: E402

Q = queries.parse((Path(__file__).parent / "scale.sql").read_text())
Q_SUPABASE = {**Q, **queries.parse((Path(__file__).parent / "scale_supabase.sql").read_text())}
# 20:00 UTC: 07:00 in Sydney (UTC+11 in November), the zone whose digest window is measured.
AS_OF = datetime(2026, 11, 26, 20, 0, tzinfo=timezone.utc)
RUNS = 3
SECTION = "## Scale: one PostgreSQL, 10k to 1M users"
SERVER_SETTINGS = {
    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
    "shared_buffers": "'4GB'", "work_mem": "'64MB'", "maintenance_work_mem": "'1GB'", "max_wal_size": "'16GB'",
    "autovacuum": "on",
}


def peak_kb(pid: int) -> int:
    """The backend's peak resident set (VmHWM), shared buffers it touched included."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, url: str, changes: int, resum_limit_s: float):
        self.url = url
        self.changes = changes  # the app writes a steady state follows (setup queries' %(changes)s)
        self.resum_limit_s = resum_limit_s
        self.rows: dict[tuple[str, int], dict] = {}

    def measure(self, what: str, users: int, query: str, params: dict | None = None, *, runs: int = RUNS,
                commit: bool = False, setup: str | None = None, sql: str | None = None,
                limit_s: float | None = None) -> dict:
        """Median seconds of `runs` runs in a fresh backend each (rolled back unless commit), result, peak MB.

        A run past `limit_s` is cancelled and the entry says so ("stopped"): the time is a lower bound.
        """
        seconds, peaks, result, stopped = [], [], "", False
        for _ in range(runs):
            with psycopg.connect(self.url, row_factory=dict_row, autocommit=commit) as conn:
                pid = conn.info.backend_pid
                if setup:
                    conn.execute(Q[setup], {"as_of": AS_OF, "changes": self.changes})
                if limit_s:
                    conn.execute(f"SET statement_timeout = {int(limit_s * 1000)}")
                started = time.perf_counter()
                try:
                    cursor = conn.execute(sql or Q[query], params if params is not None else {"as_of": AS_OF})
                    row = cursor.fetchone() if cursor.description else None
                    result = str(next(iter(row.values()))) if row else cursor.statusmessage
                except psycopg.errors.QueryCanceled:
                    stopped, result = True, f"stopped after {limit_s:.0f} s"
                    conn.rollback()
                seconds.append(time.perf_counter() - started)
                peaks.append(peak_kb(pid))
                if not commit:
                    conn.rollback()
        entry = {"s": statistics.median(seconds), "result": result, "peak_mb": max(peaks) / 1024,
                 "runs": seconds, "stopped": stopped}
        self.rows[what, users] = entry
        print(f"  {what} @ {users:,}: {entry['s']:.3f} s (runs {', '.join(f'{s:.3f}' for s in seconds)}), "
              f"peak {entry['peak_mb']:.0f} MB: {result[:150]}", flush=True)
        return entry

    def timed(self, conn, query: str, params: dict | None = None, sql: str | None = None) -> float:
        started = time.perf_counter()
        conn.execute(sql or Q[query], params if params is not None else {"as_of": AS_OF})
        return time.perf_counter() - started


def install_resum(url: str) -> None:
    """budget_alerts before issue 13, the re-sum, as wheels.budget_alerts_resum (bench only)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute((Path(__file__).parent / "budget_alerts_resum.sql").read_text())


@contextmanager
def indexes_built_after(conn, table: str):
    """The table's indexes other than its keys dropped for a bulk load and built again after it.

    At a million users the expenses' (user_id, spent_at) index took most of the load's 8 minutes
    when maintained row by row (random uuid order); built by one sort it takes well under one.
    """
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition FROM pg_index i "
        "WHERE i.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (table,)).fetchall()
    for index in indexes:
        conn.execute(f"DROP INDEX {index['name']}")
    yield
    conn.execute("SET maintenance_work_mem = '2GB'")
    for index in indexes:
        conn.execute(index["definition"])


def grow(url: str, lo: int, hi: int) -> dict[str, float]:
    """Users (lo, hi] and all their data, loaded set-based without triggers."""
    steps = {}
    with psycopg.connect(url, row_factory=dict_row) as conn:
        conn.execute(Q["load_mode"])
        marks = conn.execute(Q["watermarks"]).fetchone()
        params = {"lo": lo, "hi": hi, "as_of": AS_OF, **marks}
        # supabase-wheels: then the new fills and events into the copies its triggers keep.
        for step in ("users", "budgets", "expenses", "vehicles", "maintenance", "fuel", "fuel_feed", "pam", "pam_feed"):
            if step not in Q:
                continue
            started = time.perf_counter()
            if step == "expenses":  # 30M rows at a million users: their indexes built once, not row by row
                with indexes_built_after(conn, "public.expenses"):
                    conn.execute(Q[step], params)
            else:
                conn.execute(Q[step], params)
            conn.commit()
            steps[step] = time.perf_counter() - started
            print(f"  load {step}: {steps[step]:.1f} s", flush=True)
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(Q["vacuum"])
        steps["vacuum analyze"] = time.perf_counter() - started
    return steps


def trigger_cost(url: str, n: int, writes: str = "new_expenses") -> dict[str, float]:
    """µs per single-row app INSERT (an expense; on supabase-wheels also a PAM event) with our
    triggers and without (replica mode)."""
    loop = Q[writes].replace("%(n)s", str(n)).replace("%(as_of)s", f"'{AS_OF.isoformat()}'")
    out = {}
    for mode, setup in (("with triggers", None), ("without", "load_mode")):
        times = []
        for _ in range(RUNS):
            with psycopg.connect(url) as conn:
                if setup:
                    conn.execute(Q[setup])
                started = time.perf_counter()
                conn.execute(loop)
                times.append(time.perf_counter() - started)
                conn.rollback()
        out[mode] = statistics.median(times) / n * 1e6
    return out


def alerts_after_changes(bench: Bench, users: int, what: str) -> None:
    """budget_alerts after an hour of `bench.changes` app writes through the triggers (not timed)."""
    loop = Q["new_expenses"].replace("%(n)s", str(bench.changes)).replace("%(as_of)s", f"'{AS_OF.isoformat()}'")
    times, results, peaks = [], [], []
    for _ in range(RUNS):
        with psycopg.connect(bench.url, row_factory=dict_row) as conn:
            conn.execute(loop)
            pid = conn.info.backend_pid
            started = time.perf_counter()
            results.append(conn.execute(Q["budget_alerts"], {"as_of": AS_OF}).fetchone()["result"])
            times.append(time.perf_counter() - started)
            peaks.append(peak_kb(pid))
            conn.rollback()
    bench.rows[what, users] = {"s": statistics.median(times), "result": results[-1], "peak_mb": max(peaks) / 1024,
                               "runs": times}
    print(f"  {what} @ {users:,}: {statistics.median(times):.3f} s (runs {', '.join(f'{t:.3f}' for t in times)}) "
          f"{results[-1]}", flush=True)


def digest_window(bench: Bench, users: int, info: dict, what: str) -> None:
    """Every run of one window, a minute apart, each committed as pg_cron's are, until its zone is
    decided; then its digests are taken back off the ledger and the queue."""
    times = []
    with psycopg.connect(bench.url, row_factory=dict_row, autocommit=True) as conn:
        conn.execute(Q["digest_window"], {"as_of": AS_OF})
        sent = 0
        while True:
            started = time.perf_counter()
            result = conn.execute(Q["daily_digest_minute"], {"as_of": AS_OF, "minute": len(times)}).fetchone()["result"]
            times.append(time.perf_counter() - started)
            sent += int(result.split()[1])
            if "next run" not in result:
                break
        conn.execute(Q["forget_digests"])
    bench.rows[what, users] = {
        "s": sum(times), "result": f"{sent} digests in {len(times)} run{'s' if len(times) != 1 else ''}, "
                                   f"the longest {max(times):.3f} s",
        "peak_mb": 0, "runs": times}
    info["window_runs"] = len(times)
    print(f"  {what} @ {users:,}: {sum(times):.3f} s in {len(times)} runs "
          f"({', '.join(f'{t:.3f}' for t in times)}), {sent} digests", flush=True)


def size_run(bench: Bench, users: int, changes: int, supabase: bool) -> dict:
    url = bench.url
    info: dict = {}
    m = bench.measure
    m("budget_state_rebuild", users, "rebuild", commit=True, runs=1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(Q["forget_ledger"])
        conn.execute("UPDATE wheels.budget_state SET check_all = true")
    m("budget_alerts: first run (every budget)", users, "budget_alerts", commit=True, runs=1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE wheels.email_ledger")
    # Once, and stopped at --resum-limit: at a million users one run of the re-sum took 907 s
    # (2026-12-01), half the benchmark's time. On supabase-wheels, which has no index on expenses,
    # each budget's re-sum scans every expense: 39 s at 2,000 users, hours at 100k.
    if not supabase or users <= 2_000:
        m("budget_alerts: old re-sum, nothing new", users, "budget_alerts_resum", runs=1, limit_s=bench.resum_limit_s)
    m("budget_alerts: steady, nothing changed", users, "budget_alerts")
    # The hour's changes fold into random sums of the state: after the load and the first runs its
    # pages are mostly out of shared buffers (each fold then reads them), while hourly runs keep them in.
    alerts_after_changes(bench, users, f"budget_alerts: steady, {changes:,} new expenses, state as the load left it")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(Q["cache_state"])
    alerts_after_changes(bench, users, f"budget_alerts: steady, {changes:,} new expenses, state cached")
    info["trigger_us"] = trigger_cost(url, changes)
    print(f"  trigger cost: {info['trigger_us']}", flush=True)
    if "new_pam_events" in Q:
        info["pam_trigger_us"] = trigger_cost(url, changes, "new_pam_events")
        print(f"  PAM feed trigger cost: {info['pam_trigger_us']}", flush=True)
    m("daily_digest: one run at the window's start", users, "daily_digest", setup="digest_window")
    digest_window(bench, users, info, "daily_digest: the whole window, every run")
    # Each user's rows are read once a day: after the load most of them are out of memory (the
    # database is 17 GB at 1M users, shared_buffers 4 GB), and the window's first batches read
    # them from disk. The same window again with what it reads cached, as on a server whose
    # memory holds them.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(Q["cache_digest"], {"as_of": AS_OF})
    digest_window(bench, users, info, "daily_digest: the whole window, every run, what it reads cached")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(Q["digest_window"], {"as_of": AS_OF})
        info["window_users"] = conn.execute(
            "SELECT count(*) FROM wheels.user_zones WHERE zone = 'Australia/Sydney'").fetchone()[0]
    m("daily_digest: next run, nothing due", users, "daily_digest_next", setup="digest_all_decided")
    hour = (AS_OF - timedelta(hours=1)).replace(minute=0)
    m("busy hour: plain GROUP BY (floor)", users, "busy_hour_floor", {"hour": hour})
    m("busy hour: wheels._pam_stats", users, "busy_hour", {"hour": hour})
    m("busy hour: one plain GROUP BY of the same measures", users, "busy_hour_same_measures", {"hour": hour})
    if "busy_hour_floor_app_log" in Q:
        m("busy hour: plain GROUP BY over the app's log", users, "busy_hour_floor_app_log", {"hour": hour})
    m("analytics_hourly: normal run (3-hour window)", users, "analytics_hourly", setup="hourly_progress")
    m("analytics_daily: one day (its hours rolled up)", users, "analytics_daily", setup="yesterdays_hours")
    # On supabase-wheels: a day of the PAM event feed (the app's own log is not partitioned).
    # The week's first two days, untimed: an empty one (pam_partitions makes as_of - 8) and a part
    # of one (events start at as_of - 7 days, 20:00). Then three whole days, each timed once, as
    # cleanup retires them: detached in a transaction (all the log's writers wait for), dropped in
    # the next.
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(2):
            conn.execute(Q["retire_day"], {"as_of": AS_OF})
        conn.execute(Q["drop_retired_days"])
        info["day_rows"] = conn.execute(Q["day_rows"], {"as_of": AS_OF + timedelta(days=1)}).fetchone()[0]
    detached, dropped = [], []
    for _ in range(RUNS):
        detached.append(m("retire a day: DETACH (the log locked)", users, "retire_day", commit=True, runs=1))
        dropped.append(m("retire a day: DROP (its files freed)", users, "drop_retired_days", commit=True, runs=1))
    for what, entries in (("retire a day: DETACH (the log locked)", detached),
                          ("retire a day: DROP (its files freed)", dropped)):
        bench.rows[what, users] = {**entries[-1], "s": statistics.median(e["s"] for e in entries),
                                   "runs": [e["s"] for e in entries]}
    # Cleanup keeps time by the real clock, not as_of: its first run here deletes what the real date
    # makes old (the budget state's day sums, 3M rows at 1M users, on 2026-12-01). Run once, then
    # vacuumed as autovacuum would, so its dead rows do not slow the runs measured after it.
    with psycopg.connect(url, autocommit=True) as conn:
        info["cleanup_first"] = conn.execute(Q["cleanup"]).fetchone()[0]
        conn.execute(Q["vacuum"])
    m("cleanup: steady", users, "cleanup", {}, commit=True)
    m("partitions: steady", users, "partitions")
    # The first run decides every task in the window (committed); the next day's looks only at the
    # tasks whose reminder or overdue date came (no task changed: the triggers' side is the fuel's).
    m("maintenance_reminders: first run", users, "maintenance_reminders", commit=True, runs=1)
    m("maintenance_reminders: an hour later (hourly)", users, "maintenance_reminders_next_hour")
    m("maintenance_reminders: a day later (a day without runs)", users, "maintenance_reminders_next_day")
    # The first run after install measures every vehicle (committed, so the next is a steady one);
    # then a day whose fills, one more full tank for `changes` vehicles, came through the triggers.
    with psycopg.connect(url, autocommit=True) as conn:  # the data came without triggers: measure all, as at install
        conn.execute(Q["fuel_measure_all"])
    m("fuel_consumption: first run (every vehicle)", users, "fuel_consumption", commit=True, runs=1)
    m(f"fuel_consumption: steady, {changes:,} new fills", users, "fuel_consumption", setup="new_fills")
    return info


def cell(entry: dict | None) -> str:
    if not entry:
        return ""
    return f"> {entry['s']:.0f} s (stopped)" if entry.get("stopped") else f"{entry['s']:.3f} s"


def exponent(bench: Bench, what: str, n1: int, n2: int) -> str:
    a, b = bench.rows.get((what, n1)), bench.rows.get((what, n2))
    if not a or not b or a["s"] <= 0 or a.get("stopped") or b.get("stopped"):
        return ""
    return f"{math.log(b['s'] / a['s']) / math.log(n2 / n1):+.2f}"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    return f"{os.cpu_count()} vCPU {cpu}, {mem_kb // 1024 // 1024} GB RAM"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--source", choices=["demo", "supabase-wheels"], default="demo")
    parser.add_argument("--resum-limit", type=float, default=120,
                        help="seconds after which the old re-sum is stopped (its time is then a lower bound)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    global Q, SECTION
    supabase = args.source == "supabase-wheels"
    if supabase:
        Q, SECTION = Q_SUPABASE, "## Scale on supabase-wheels"
    started = time.perf_counter()
    loads = [os.getloadavg()]
    folder = Path(tempfile.mkdtemp(prefix="wheels-scale-bench-"))
    folder.chmod(0o755)
    infos, load_steps, counts = {}, {}, {}
    if supabase:
        from tests import supabase_support
        instance = supabase_support.start(folder, settings=SERVER_SETTINGS)
        cluster, url = instance.cluster, instance.admin_url
        migrate(instance.owner_url, "supabase-wheels", schedule_jobs=False)
    else:
        cluster = Cluster(folder / "data", database="wheels", settings=SERVER_SETTINGS)
    try:
        if not supabase:
            url = cluster.ensure_running()
            migrate(url, "demo", schedule_jobs=False)
        install_resum(url)
        bench = Bench(url, args.changes, args.resum_limit)
        lo = 0
        for users in sorted(args.users):
            print(f"growing to {users:,} users", flush=True)
            # The week's days again, as the partitions job keeps them: the days a smaller size
            # retired would otherwise send this size's events of them into the DEFAULT partition.
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(Q["pam_partitions"], {"as_of": AS_OF})
            load_steps[users] = grow(url, lo, users)
            lo = users
            with psycopg.connect(url, row_factory=dict_row) as conn:
                counts[users] = conn.execute(Q["counts"]).fetchone()
            print(counts[users], flush=True)
            infos[users] = size_run(bench, users, args.changes, supabase)
            loads.append(os.getloadavg())
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    took = time.perf_counter() - started
    body = report(args, bench, infos, load_steps, counts, took, loads)
    print(body)
    if not args.no_write:
        write_section(body)


def report(args, bench: Bench, infos, load_steps, counts, took, loads) -> str:
    sizes_list = sorted(args.users)
    whats = list(dict.fromkeys(w for w, _ in bench.rows))
    head = "| job, run | " + " | ".join(f"{n:,} users" for n in sizes_list) + " | exponent " + \
        ", ".join(f"{a // 1000}k→{b // 1000}k" for a, b in zip(sizes_list, sizes_list[1:])) + " | peak MB (largest) |"
    lines = [head, "| --- |" + " ---: |" * len(sizes_list) + " --- | ---: |"]
    for what in whats:
        cells = [cell(bench.rows.get((what, n))) for n in sizes_list]
        exps = ", ".join(exponent(bench, what, a, b) for a, b in zip(sizes_list, sizes_list[1:]))
        peak = bench.rows.get((what, sizes_list[-1]), {}).get("peak_mb", 0)
        lines.append(f"| {what} | " + " | ".join(cells) + f" | {exps} | {peak:.0f} |")
    results = "\n".join(f"- {what}: `{bench.rows[what, sizes_list[-1]]['result']}`"
                        for what in whats if (what, sizes_list[-1]) in bench.rows)
    data = "; ".join(f"{n:,} users: {c['budgets']:,} budgets, {c['expenses']:,} expenses, {c['pam_events']:,} PAM "
                     f"events, loaded in {sum(load_steps[n].values()):.0f} s" for n, c in counts.items())
    trig = "; ".join(f"{n:,} users: {i['trigger_us']['with triggers']:.1f} µs with the triggers, "
                     f"{i['trigger_us']['without']:.1f} µs without" for n, i in infos.items())
    if all("pam_trigger_us" in i for i in infos.values()):
        trig += "; and a single-row PAM log INSERT (the PAM event feed's trigger) " + "; ".join(
            f"{n:,} users: {i['pam_trigger_us']['with triggers']:.1f} µs with it, "
            f"{i['pam_trigger_us']['without']:.1f} µs without" for n, i in infos.items())
    window = ", ".join(f"{i['window_users']:,} ({i['window_runs']} run{'s' if i['window_runs'] != 1 else ''})"
                       for i in infos.values())
    day_rows = ", ".join(f"{i['day_rows']:,}" for i in infos.values())  # a whole UTC day
    load = ", ".join(f"{a:.1f}" for a, _, _ in loads)
    return f"""{SECTION}

Command (from the project root, after `bash scripts/setup.sh`): `.venv/bin/python bench/scale.py --users {' '.join(str(n) for n in sizes_list)} --changes {args.changes} --source {args.source}`;
this run took {took / 60:.1f} minutes in all (data generation included). Machine: {machine()}, PostgreSQL 15,
shared with other engineers' test runs (1-minute load average at the start and after each size: {load}).
One embedded cluster (`shared_buffers` 4GB, `work_mem` 64MB, fsync off), the {args.source} source, grown in place.
`as_of` = {AS_OF.isoformat()} (07:00 in Sydney). Data: {data}.
Median of {RUNS} runs in a fresh backend each, rolled back (retiring a day: committed, a day each; the first
budget_alerts and the rebuild: once, committed). Peak MB is the backend's VmHWM, which counts the shared buffers it touched.

{chr(10).join(lines)}

- App writes: a single-row expense INSERT costs {trig} (a PL/pgSQL loop of {args.changes:,} INSERT statements, so the
  trigger's per-statement cost, its exception block's subtransaction and the recorded row are all in it).
- The digest window holds one zone's users: {window} at the sizes above (1/24 each; a run a minute, each deciding at
  most `digest_batch_users`, 5,000, of them).
- The first day retired held {day_rows} events (the days a smaller size retired hold only the users it added).
- Cleanup's first run at each size (by the real clock, not `as_of`; not timed, vacuumed after):
  {"; ".join(f"{n:,} users: {i['cleanup_first']}" for n, i in infos.items())}.

Result lines at {sizes_list[-1]:,} users:

{results}
"""


if __name__ == "__main__":
    main()
