"""wheels-jobs against the Celery + Beat + Redis design it replaces, side by side.

Run: bash bench/run_comparison.sh   (installs the `bench` extra and redis-server
when missing, then runs this module; writes its section of docs/BENCHMARKS.md)

One fresh embedded PostgreSQL cluster holds the generated data; a redis-server
on a loopback port is the baseline's broker; the Resend stand-in
(tests/resend_stub.py) runs in its own process, a fresh one per measurement. Each
side runs in turn on the same data: the SQL jobs + `sender drain`, then the
baseline of bench/celery_baseline/ (Python tasks, one email per task and API call).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
import psycopg
from psycopg.rows import dict_row

from bench.celery_baseline import report
from bench.sections import write_section
from bench.celery_baseline.harness import (
    VISIBILITY_TIMEOUT_S,
    Footprint,
    StandIn,
    cluster,
    kill_group,
    machine,
    redis_server,
    stand_in,
    start_group,
    wait_until,
)
from wheels_core import queries

Q = queries.load("bench.celery_baseline", "compare.sql")

DAY = datetime(2026, 11, 18, tzinfo=timezone.utc)  # the generated day of PAM events
BUSY_HOUR = DAY + timedelta(hours=12)
BUDGET_AS_OF = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
MONTH_START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SENDER_APP = "bench-sender"
PRODUCER_APP = "bench-producer"
LATENCY_GAP_S = 0.1
# A kill run ends when nothing arrived for this long.
KILL_QUIET_S = VISIBILITY_TIMEOUT_S + 10


@dataclass
class Scale:
    rows_per_hour: int = 100_000
    backfill_hours: int = 24
    users: int = 100_000
    expenses_per_category: int = 3
    emails: int = 10_000
    latency_samples: int = 50
    kill_emails: int = 3_000
    runs: int = 3


QUICK = Scale(rows_per_hour=5_000, backfill_hours=4, users=5_000, emails=500, latency_samples=10,
              kill_emails=300, runs=1)


@dataclass
class Bench:
    url: str
    broker_url: str
    redis_pid: int
    work: Path
    scale: Scale
    results: dict = field(default_factory=dict)

    def sql(self, name: str, params=None, *, conn=None) -> list[dict]:
        """Run a named query of compare.sql (on `conn`, else on a new autocommit connection); its rows."""
        if conn is not None:
            cur = conn.execute(Q[name], params)
            return cur.fetchall() if cur.description else []
        with psycopg.connect(self.url, row_factory=dict_row, autocommit=True) as c:
            return self.sql(name, params, conn=c)

    def env(self, stand: StandIn | None, **extra: str) -> dict[str, str]:
        """The environment of both sides' processes (bench/celery_baseline/app.py reads the BENCH_ ones)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RESEND_", "BENCH_"))}
        env.update({"DATABASE_URL": self.url, "UNSUBSCRIBE_SECRET": "bench-secret",
                    "BENCH_BROKER_URL": self.broker_url, "BENCH_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
                    "PYTHONUNBUFFERED": "1", **extra})
        if stand is not None:
            env.update({"RESEND_API_KEY": stand.api_key, "RESEND_API_URL": stand.url})
        return env

    def reset_emails(self) -> None:
        """Empty ledger, deliveries, queue and broker, vacuumed so every run starts alike."""
        import redis

        self.sql("reset_emails")
        self.sql("purge_queue")
        self.sql("vacuum_emails")
        redis.Redis.from_url(self.broker_url).flushdb()

    # -- wheels-jobs
    def start_sender(self, stand: StandIn) -> subprocess.Popen:
        """`sender drain` without a rate limit, once its connection is up."""
        proc = start_group([sys.executable, "-m", "sender.cli", "drain", "--no-rate-limit",
                            "--visibility-timeout", str(VISIBILITY_TIMEOUT_S), "--log-level", "WARNING"],
                           self.env(stand, PGAPPNAME=SENDER_APP), self.work / "sender.log")
        wait_until(lambda: self.sql("backends", {"name": SENDER_APP}), 60, "the sender's connection")
        time.sleep(0.5)  # past LISTEN and the first empty read
        return proc

    def enqueue_wheels(self, n: int, prefix: str, conn=None) -> list[int]:
        return [r["id"] for r in self.sql("enqueue_welcomes", {"n": n, "prefix": prefix}, conn=conn)]

    # -- Celery
    def start_worker(self, stand: StandIn, *, acks_late: bool = False) -> subprocess.Popen:
        """`celery worker` with its defaults (prefork, one child per core), once it answers a ping."""
        proc = start_group([sys.executable, "-m", "celery", "-A", "bench.celery_baseline.app", "worker",
                            "--loglevel", "WARNING", "-n", f"bench{time.monotonic_ns()}@%h"],
                           self.env(stand, BENCH_ACKS_LATE="1" if acks_late else "0"), self.work / "worker.log")
        from bench.celery_baseline.app import app

        wait_until(lambda: app.control.ping(timeout=0.5), 60, "the Celery worker")
        return proc


def celery_producer(bench: Bench):
    """The baseline's tasks module, configured for this broker and database, imported in this process."""
    os.environ.update(bench.env(None))
    from bench.celery_baseline import app

    return app


def welcome(i: int, prefix: str) -> dict:
    """The intent the Celery side sends: the same shape and template as the wheels side's."""
    return {"v": 1, "kind": "welcome", "intent_id": i, "user_id": None, "to": f"{prefix}{i}@example.com",
            "name": f"User {i}", "data": {}}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- analytics and budget alerts -----------------------------------------------------

def measure_analytics(b: Bench) -> None:
    """One busy hour, then a whole day from scratch: wheels.analytics_hourly vs the Python task body."""
    from bench.celery_baseline import jobs

    s, r = b.scale, b.results
    hour_end = BUSY_HOUR + timedelta(hours=1)
    day_end = DAY + timedelta(hours=s.backfill_hours)

    def sql_hour():
        b.sql("reset_rollups")
        b.sql("set_rollup_state", {"upto": hour_end})
        return timed(lambda: b.sql("sql_hourly", {"recompute_hours": 1, "as_of": hour_end}))

    def sql_day():
        b.sql("reset_rollups")  # no progress row: the first run backfills all history
        return timed(lambda: b.sql("sql_hourly", {"recompute_hours": 0, "as_of": day_end}))

    def py_hour():
        b.sql("reset_rollups")
        return timed(lambda: jobs.rollup_hour(b.url, BUSY_HOUR))

    def py_day():
        b.sql("reset_rollups")
        return timed(lambda: [jobs.rollup_hour(b.url, DAY + timedelta(hours=h)) for h in range(s.backfill_hours)])

    for key in ("hour_sql", "hour_py", "day_sql", "day_py"):
        r[key] = []
    for _ in range(s.runs):  # interleaved, so that a noisy minute hits both sides
        r["hour_sql"].append(sql_hour())
        r["hour_py"].append(py_hour())
        r["day_sql"].append(sql_day())
        sql_rows = b.sql("summary_rows")
        r["day_py"].append(py_day())
        py_rows = b.sql("summary_rows")
    strip = lambda rows: [{k: v for k, v in row.items() if k != "computed_at"} for row in rows]  # noqa: E731
    r["rollups_agree"] = bool(sql_rows) and strip(sql_rows) == strip(py_rows)
    print(f"analytics: hour sql {report.median(r['hour_sql']):.2f}s py {report.median(r['hour_py']):.2f}s; "
          f"day sql {report.median(r['day_sql']):.2f}s py {report.median(r['day_py']):.2f}s; "
          f"agree={r['rollups_agree']}", flush=True)


def measure_budget(b: Bench, app) -> None:
    """Detection + ledger + enqueue of every alert: wheels.budget_alerts vs the Celery task run in
    this process (no worker: the send_email tasks it enqueues stay in Redis)."""
    r = b.results
    r["budget_sql"], r["budget_py"] = [], []
    kinds = {}
    for _ in range(b.scale.runs):
        b.reset_emails()
        r["budget_sql"].append(timed(lambda: b.sql("sql_budget", {"as_of": BUDGET_AS_OF})))
        kinds["budget_sql"] = b.sql("ledger_kinds")
        b.reset_emails()
        r["budget_py"].append(timed(lambda: app.budget_alerts(BUDGET_AS_OF.isoformat())))
        kinds["budget_py"] = b.sql("ledger_kinds")
    b.reset_emails()
    r["alerts"] = {k["kind"]: k["n"] for k in kinds["budget_sql"]}
    r["alerts_agree"] = bool(r["alerts"]) and kinds["budget_sql"] == kinds["budget_py"]
    print(f"budget: sql {report.median(r['budget_sql']):.2f}s py {report.median(r['budget_py']):.2f}s "
          f"alerts {r['alerts']} agree={r['alerts_agree']}", flush=True)


# -- delivery --------------------------------------------------------------------------

@dataclass
class Delivery:
    wall_s: float  # from the first enqueue to the last email accepted
    enqueue_s: float  # of which the producer spent enqueueing
    requests: int
    cpu_s: dict[str, float]  # per group of processes
    peak_rss: int
    processes: int  # of the consumer


def deliver_wheels(b: Bench, n: int) -> Delivery:
    """n welcome intents enqueued in one statement (as a bulk sign-up's trigger does) to an idle sender."""
    with stand_in() as stand, psycopg.connect(b.url, row_factory=dict_row, autocommit=True,
                                              application_name=PRODUCER_APP) as producer:
        b.reset_emails()
        sender = b.start_sender(stand)
        try:
            groups = {"sender": [sender.pid],
                      "its PostgreSQL backends": [r["pid"] for r in b.sql("backends", {"name": SENDER_APP})],
                      "producer's backend": [r["pid"] for r in b.sql("backends", {"name": PRODUCER_APP})]}
            with Footprint(groups) as fp:
                start = time.perf_counter()
                b.enqueue_wheels(n, f"d{time.monotonic_ns()}-", conn=producer)
                enqueued = time.perf_counter()
                if not stand.wait_for(n, 300):
                    raise RuntimeError(f"wheels-jobs delivered {stand.count()} of {n}")
                wall = time.perf_counter() - start
            return Delivery(wall, enqueued - start, stand.requests(), fp.cpu_s(), fp.peak_rss,
                            1 + len(psutil.Process(sender.pid).children()))
        finally:
            kill_group(sender, signal.SIGTERM)


def deliver_celery(b: Bench, app, n: int) -> Delivery:
    """n send_email tasks enqueued one .delay() each to an idle worker."""
    with stand_in() as stand:
        b.reset_emails()
        worker = b.start_worker(stand)
        try:
            intents = [welcome(i, f"c{i}-") for i in range(1, n + 1)]
            with Footprint({"worker": [worker.pid], "redis-server": [b.redis_pid]}) as fp:
                start = time.perf_counter()
                producer_cpu = time.thread_time()
                for intent in intents:
                    app.send_email.delay(intent)
                producer_cpu = time.thread_time() - producer_cpu
                enqueued = time.perf_counter()
                if not stand.wait_for(n, 600):
                    raise RuntimeError(f"Celery delivered {stand.count()} of {n}")
                wall = time.perf_counter() - start
            return Delivery(wall, enqueued - start, stand.requests(), {**fp.cpu_s(), "producer": producer_cpu},
                            fp.peak_rss, 1 + len(psutil.Process(worker.pid).children()))
        finally:
            kill_group(worker, signal.SIGTERM)


def measure_delivery(b: Bench, app) -> None:
    r, runs, n = b.results, b.scale.runs, b.scale.emails
    keys = ("deliver_wheels", "deliver_celery")
    for key in keys:
        r[key] = []
    for _ in range(runs):  # interleaved, so that a noisy minute hits every side
        r["deliver_wheels"].append(deliver_wheels(b, n))
        r["deliver_celery"].append(deliver_celery(b, app, n))
    for key in keys:
        d = report.median_delivery(r[key])
        print(f"{key}: {d['wall_s']:.2f}s (enqueue {d['enqueue_s']:.2f}s), {d['requests']:.0f} requests, "
              f"cpu {d['cpu']}, rss {d['peak_rss'] / 2**20:.0f} MiB", flush=True)


def measure_latency(b: Bench, app) -> None:
    """One email every LATENCY_GAP_S to an idle consumer: from the producer's call to the stand-in's acceptance."""
    n, r = b.scale.latency_samples, b.results

    def latencies(sent: dict[int, float], stand: StandIn) -> list[float]:
        stand.wait_for(n, 60)
        accepted = dict(stand.accepted())
        return [accepted[i] - t for i, t in sent.items() if i in accepted]

    with stand_in() as stand, psycopg.connect(b.url, row_factory=dict_row, autocommit=True) as producer:
        b.reset_emails()
        sender = b.start_sender(stand)
        try:
            sent = {}
            for i in range(n):
                t = time.monotonic()
                sent[b.enqueue_wheels(1, f"l{i}-", conn=producer)[0]] = t
                time.sleep(LATENCY_GAP_S)
            r["latency_wheels"] = latencies(sent, stand)
        finally:
            kill_group(sender, signal.SIGTERM)
    with stand_in() as stand:
        b.reset_emails()
        worker = b.start_worker(stand)
        try:
            sent = {}
            for i in range(1, n + 1):
                sent[i] = time.monotonic()
                app.send_email.delay(welcome(i, "l"))
                time.sleep(LATENCY_GAP_S)
            r["latency_celery"] = latencies(sent, stand)
        finally:
            kill_group(worker, signal.SIGTERM)
    for key in ("latency_wheels", "latency_celery"):
        p50, p99 = report.percentiles(r[key])
        print(f"{key}: p50 {p50 * 1000:.1f} ms p99 {p99 * 1000:.1f} ms ({len(r[key])} of {n})", flush=True)


# -- SIGKILL ---------------------------------------------------------------------------

@dataclass
class KillOutcome:
    intents: int
    accepted: int  # emails the stand-in accepted
    distinct: int  # different intents among them
    waiting: int  # still in the queue, or held unacknowledged by a dead worker, at the end
    kills: int

    @property
    def duplicates(self) -> int:
        return self.accepted - self.distinct

    @property
    def lost(self) -> int:
        return self.intents - self.distinct


def kill_run(stand: StandIn, start, waiting, n: int) -> KillOutcome:
    """Start a consumer; SIGKILL it (and its children) when a third and two thirds of
    the intents were accepted, restarting it at once; then wait until every intent
    arrived and `waiting()` (messages still queued or held unacknowledged) is 0, or
    nothing arrived for KILL_QUIET_S (a dead consumer's messages come back after
    VISIBILITY_TIMEOUT_S)."""
    proc = start()
    kills = 0
    try:
        for fraction in (1 / 3, 2 / 3):
            stand.wait_for(int(n * fraction), 300)
            kill_group(proc)
            kills += 1
            proc = start()
        last, since = -1, time.monotonic()
        while time.monotonic() - since < KILL_QUIET_S:
            accepted = stand.accepted()
            if len({i for i, _ in accepted}) >= n and waiting() == 0:
                break
            if len(accepted) != last:
                last, since = len(accepted), time.monotonic()
            time.sleep(0.5)
        time.sleep(1)  # a duplicate in flight lands
    finally:
        kill_group(proc, signal.SIGTERM)
    accepted = stand.accepted()
    return KillOutcome(n, len(accepted), len({i for i, _ in accepted}), waiting(), kills)


def measure_kills(b: Bench, app, *, acks_late_too: bool) -> None:
    """The same kill schedule for every consumer, b.scale.runs times each, interleaved."""
    import redis

    n, r = b.scale.kill_emails, b.results
    broker = redis.Redis.from_url(b.broker_url)
    variants = [("kill_celery_early", False)] + ([("kill_celery_late", True)] if acks_late_too else [])
    for key in ["kill_wheels", *(k for k, _ in variants)]:
        r[key] = []
    for _ in range(b.scale.runs):
        with stand_in() as stand:
            b.reset_emails()
            b.enqueue_wheels(n, "k")
            r["kill_wheels"].append(kill_run(stand, lambda: b.start_sender(stand),
                                             lambda: b.sql("queue_length")[0]["n"], n))
        for key, acks_late in variants:
            with stand_in() as stand:
                b.reset_emails()
                for i in range(1, n + 1):
                    app.send_email.delay(welcome(i, "k"))
                r[key].append(kill_run(stand, lambda: b.start_worker(stand, acks_late=acks_late),
                                       lambda: broker.llen("celery") + broker.hlen("unacked"), n))
    for key in ["kill_wheels", *(k for k, _ in variants)]:
        print(f"{key}: {r[key]}", flush=True)


def measure_beat(b: Bench) -> None:
    """Celery Beat's own footprint: started, left idle 3 s, measured, stopped; and the broker's."""
    beat = start_group([sys.executable, "-m", "celery", "-A", "bench.celery_baseline.app", "beat",
                        "--loglevel", "WARNING", "-s", str(b.work / "beat-schedule")],
                       b.env(None), b.work / "beat.log")
    try:
        time.sleep(3)
        p = psutil.Process(beat.pid)
        b.results["beat_rss"] = sum(x.memory_info().rss for x in [p, *p.children(recursive=True)])
    finally:
        kill_group(beat, signal.SIGTERM)
    b.results["redis_rss"] = psutil.Process(b.redis_pid).memory_info().rss


# -- main ----------------------------------------------------------------------------

def generate(url: str, s: Scale) -> dict[str, float]:
    """The shared data, set-based; seconds each part took."""
    took = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # no welcome trigger for 100k users
        conn.execute("SELECT setseed(0.42)")
        took["events"] = timed(lambda: conn.execute(Q["generate_events"], {
            "start": DAY, "rows_per_hour": s.rows_per_hour, "hours": s.backfill_hours}))
        took["users"] = timed(lambda: (
            conn.execute(Q["generate_users"], {"users": s.users}),
            conn.execute(Q["generate_categories"]),
            conn.execute(Q["generate_expenses"], {"per_category": s.expenses_per_category,
                                                  "month_start": MONTH_START, "as_of": BUDGET_AS_OF})))
        conn.execute("VACUUM ANALYZE")
    print(f"generated: {took}", flush=True)
    return took


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.celery_compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny scale, one run, docs untouched (a dry run)")
    parser.add_argument("--no-acks-late", action="store_true", help="skip the acks_late=True kill run")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else Scale()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is missing: run bash bench/run_comparison.sh (it installs it)")
    started = time.perf_counter()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wheels-celery-bench-")))
        url = stack.enter_context(cluster(work))
        broker_url, redis_pid = stack.enter_context(redis_server(work))
        m = machine(url)
        print(f"machine: {m}", flush=True)
        took = generate(url, scale)
        b = Bench(url, broker_url, redis_pid, work, scale,
                  {"latency_gap_s": LATENCY_GAP_S, "kill_quiet_s": KILL_QUIET_S})
        app = celery_producer(b)
        measure_analytics(b)
        measure_budget(b, app)
        measure_delivery(b, app)
        measure_latency(b, app)
        measure_kills(b, app, acks_late_too=not args.no_acks_late)
        measure_beat(b)
    section = report.render(b.results, scale, m, took, time.perf_counter() - started)
    print(section)
    if not args.quick:
        write_section(section)


if __name__ == "__main__":
    main()
