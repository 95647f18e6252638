"""Where one pgmq queue table stops (issue 13, docs/SCALING.md): sustained
enqueue + drain of the intent queue at rising rates, autovacuum running.

    .venv/bin/python bench/queue_rate.py [--rates 250 500 1000 2000 4000 8000] [--seconds 40] [--no-write]

A throwaway cluster (default durability: commits flush WAL; autovacuum on
with its defaults), migrated. At each rate a producer thread sends
intent-sized messages with pgmq.send_batch every 20 ms (the jobs enqueue in
batches), and two consumer threads drain as `sender drain` does: pgmq.read
of up to 100 with a visibility timeout, then pgmq.archive of what was read,
one transaction each. Per rate: messages/s enqueued and drained, the queue's
depth at the end, the latency from enqueue to read (p50, p99), the queue
table's size and dead tuples, and autovacuum runs on it. A rate "holds" while
the drain keeps up (depth stays under one second's worth) and p99 stays
under one second. Results replace the `## pgmq: one queue table at rising
rates` section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sections import write_section  # noqa: E402
from wheels_jobs.embedded import Cluster  # noqa: E402
from wheels_jobs.migrate import migrate  # noqa: E402

SECTION = "## pgmq: one queue table at rising rates"
TICK_S = 0.02
CONSUMERS = 2
SEND = """
SELECT count(*) FROM pgmq.send_batch('email_intents', (
    SELECT array_agg(jsonb_build_object('v', 1, 'kind', 'budget_warning', 'intent_id', g, 'to', 'user' || g || '@example.com',
                                        'data', jsonb_build_object('category', 'Fuel', 'spent', 412.5, 'limit', 500)))
    FROM generate_series(1, %(n)s) g))
"""
READ = "SELECT msg_id, extract(epoch FROM clock_timestamp() - enqueued_at) FROM pgmq.read('email_intents', 30, 100)"
ARCHIVE = "SELECT count(*) FROM pgmq.archive('email_intents', %(ids)s::bigint[])"
STATS = """
SELECT (SELECT count(*) FROM pgmq.q_email_intents) AS depth,
       pg_total_relation_size('pgmq.q_email_intents') AS bytes,
       s.n_dead_tup AS dead, s.autovacuum_count AS autovacuums
FROM pg_stat_user_tables s WHERE s.relid = 'pgmq.q_email_intents'::regclass
"""


def run_rate(url: str, rate: int, seconds: float) -> dict:
    stop = threading.Event()
    latencies: list[float] = []
    counts = {"sent": 0, "drained": 0}
    lock = threading.Lock()

    def produce() -> None:
        per_tick = rate * TICK_S
        owed = 0.0
        with psycopg.connect(url, autocommit=True) as conn:
            next_at = time.monotonic()
            while not stop.is_set():
                owed += per_tick
                n = int(owed)
                owed -= n
                if n:
                    conn.execute(SEND, {"n": n})
                    with lock:
                        counts["sent"] += n
                next_at += TICK_S
                time.sleep(max(0.0, next_at - time.monotonic()))

    def consume() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                with conn.transaction():
                    rows = conn.execute(READ).fetchall()
                    if rows:
                        conn.execute(ARCHIVE, {"ids": [r[0] for r in rows]})
                if rows:
                    with lock:
                        counts["drained"] += len(rows)
                        latencies.extend(float(r[1]) for r in rows)
                else:
                    time.sleep(0.01)

    with psycopg.connect(url, autocommit=True) as conn:
        before = conn.execute(STATS).fetchone()
    threads = [threading.Thread(target=produce)] + [threading.Thread(target=consume) for _ in range(CONSUMERS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    with psycopg.connect(url, autocommit=True) as conn:
        depth, size, dead, vacuums = conn.execute(STATS).fetchone()
        conn.execute("DELETE FROM pgmq.q_email_intents")
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    result = {"rate": rate, "sent_s": counts["sent"] / took, "drained_s": counts["drained"] / took, "depth": depth,
              "p50_ms": pct(0.5), "p99_ms": pct(0.99), "mb": size / 2**20, "dead": dead,
              "autovacuums": vacuums - before[3]}
    result["holds"] = depth < max(rate, 100) and result["p99_ms"] < 1000 and result["sent_s"] > 0.9 * rate
    print(result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[250, 500, 1000, 2000, 4000, 8000])
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="wheels-queue-bench-"))
    folder.chmod(0o755)
    cluster = Cluster(folder / "data", database="wheels")
    started = time.monotonic()
    try:
        url = cluster.ensure_running()
        migrate(url, "demo", schedule_jobs=False)
        results = [run_rate(url, rate, args.seconds) for rate in args.rates]
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    rows = "\n".join(
        f"| {r['rate']:,} | {r['sent_s']:,.0f} | {r['drained_s']:,.0f} | {r['depth']:,} | {r['p50_ms']:.0f} | "
        f"{r['p99_ms']:.0f} | {r['mb']:.1f} | {r['dead']:,} | {r['autovacuums']} | {'yes' if r['holds'] else 'no'} |"
        for r in results)
    body = f"""{SECTION}

`.venv/bin/python bench/queue_rate.py --rates {' '.join(map(str, args.rates))} --seconds {args.seconds:g}` took
{(time.monotonic() - started) / 60:.1f} minutes; 2 shared vCPUs (load average {load[0]:.1f} at the start),
PostgreSQL 15 with default durability and autovacuum settings, producer and consumers in one Python process
over loopback TCP. Each rate runs {args.seconds:g} s: a `pgmq.send_batch` every {TICK_S * 1000:.0f} ms, {CONSUMERS}
consumers reading up to 100 (visibility timeout 30 s) and archiving them, one transaction per batch, as
`sender drain` does. "Holds": the drain keeps up (depth under a second's worth), p99 under 1 s, and the
producer reached 90% of the rate.

| rate (msg/s) | enqueued/s | drained/s | depth at the end | p50 ms | p99 ms | queue table MB | dead tuples | autovacuums | holds |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
{rows}
"""
    print(body)
    if not args.no_write:
        write_section(body)


if __name__ == "__main__":
    main()
