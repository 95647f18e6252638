"""wheels-jobs against the Celery + Beat + Redis design it replaces, side by side.

Run: bash bench/run_comparison.sh   (installs the `bench` extra and redis-server
when missing, then runs this module; writes its section of docs/BENCHMARKS.md)

One fresh embedded PostgreSQL cluster holds the generated data; a redis-server
on a loopback port is the baseline's broker; the Resend stand-in
(tests/resend_stub.py) runs in its own process, a new one per measurement. Each
side runs in turn on the same data: SQL jobs + `sender drain` against the
baseline in bench/celery_baseline/ (Python tasks, one email per task and API call).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
import psycopg
from psycopg.rows import dict_row

from wheels_jobs import queries
from wheels_jobs.embedded import Cluster, free_loopback_port
from wheels_jobs.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## wheels-jobs vs Celery + Redis"
Q = queries.load("bench.celery_baseline", "compare.sql")
COMMAND = "bash bench/run_comparison.sh"

DAY = datetime(2026, 11, 18, tzinfo=timezone.utc)  # the generated day of PAM events
BUSY_HOUR = DAY + timedelta(hours=12)
BUDGET_AS_OF = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
MONTH_START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SENDER_APP = "bench-sender"
PRODUCER_APP = "bench-producer"
# Both sides give a dead consumer's messages to another after this many seconds
# (pgmq visibility timeout; Redis transport visibility_timeout, Celery default 3600).
VISIBILITY_TIMEOUT_S = 10
SAMPLE_INTERVAL_S = 0.1


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


def median(values):
    return statistics.median(values) if values else float("nan")


# -- processes ---------------------------------------------------------------------

class Footprint:
    """CPU seconds and peak summed RSS of some processes and their children, sampled every 0.1 s."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, baseline: bool = False) -> None:
        """One look at every process; CPU counts from the first look (0 for a process born later)."""
        rss = 0
        for pid in self.pids:
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for p in procs:
                try:
                    with p.oneshot():
                        t = p.cpu_times()
                        rss += p.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                self.first.setdefault(p.pid, t.user + t.system if baseline else 0.0)
                self.last[p.pid] = t.user + t.system
        self.peak_rss = max(self.peak_rss, rss)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self._sample()

    def __enter__(self) -> Footprint:
        self._sample(baseline=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def cpu_s(self) -> float:
        return sum(self.last[pid] - self.first.get(pid, 0.0) for pid in self.last)


class StandIn:
    """The Resend stand-in in its own process, asked for counts over a pipe (its
    /_stub/stats returns every accepted email, too heavy to poll at 10k emails)."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve_stand_in, args=(child,), daemon=True)
        self.process.start()
        self.url, self.api_key = self._conn.recv()

    def ask(self, command: str):
        self._conn.send(command)
        return self._conn.recv()

    def count(self) -> int:
        return self.ask("count")

    def accepted(self) -> list[tuple[int, float]]:
        """(intent id, monotonic time accepted) of every accepted email."""
        return self.ask("accepted")

    def requests(self) -> int:
        return self.ask("requests")

    def wait_for(self, count: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.count() < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        self.ask("stop")
        self.process.join(5)


def _serve_stand_in(conn) -> None:
    from tests.resend_stub import ResendStub

    stub = ResendStub().start()
    conn.send((stub.url, stub.api_key))
    while True:
        command = conn.recv()
        if command == "count":
            conn.send(len(stub.accepted))
        elif command == "accepted":
            conn.send([(a.intent_id, a.at) for a in stub.accepted])
        elif command == "requests":
            conn.send(len(stub.requests))
        elif command == "stop":
            stub.stop()
            conn.send(None)
            return


@contextmanager
def stand_in():
    s = StandIn()
    try:
        yield s
    finally:
        s.close()


def start_group(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process in its own session (so SIGKILL reaches its children too), output to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_until(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)
    return value


# -- the two sides -----------------------------------------------------------------

@dataclass
class Bench:
    url: str
    broker_url: str
    redis_pid: int
    work: Path
    scale: Scale
    results: dict = field(default_factory=dict)

    def sql(self, name: str, params=None, *, conn=None) -> list[dict]:
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

    # wheels-jobs
    def start_sender(self, stand: StandIn) -> subprocess.Popen:
        proc = start_group([sys.executable, "-m", "sender.cli", "drain", "--no-rate-limit",
                            "--visibility-timeout", str(VISIBILITY_TIMEOUT_S), "--log-level", "WARNING"],
                           self.env(stand, PGAPPNAME=SENDER_APP), self.work / "sender.log")
        wait_until(lambda: self.sql("backends", {"name": SENDER_APP}), 60, "the sender's connection")
        time.sleep(0.5)  # past LISTEN and the first empty read
        return proc

    def enqueue_wheels(self, n: int, prefix: str, conn=None) -> list[int]:
        return [r["id"] for r in self.sql("enqueue_welcomes", {"n": n, "prefix": prefix}, conn=conn)]

    # Celery
    def start_worker(self, stand: StandIn, *, acks_late: bool = False) -> subprocess.Popen:
        proc = start_group([sys.executable, "-m", "celery", "-A", "bench.celery_baseline.app", "worker",
                            "--loglevel", "WARNING", "-n", f"bench{time.monotonic_ns()}@%h"],
                           self.env(stand, BENCH_ACKS_LATE="1" if acks_late else "0"), self.work / "worker.log")
        from bench.celery_baseline.app import app

        wait_until(lambda: app.control.ping(timeout=0.5), 60, "the Celery worker")
        return proc

    def reset_emails(self) -> None:
        self.sql("reset_emails")
        self.sql("purge_queue")
        import redis

        redis.Redis.from_url(self.broker_url).flushdb()


def celery_producer(bench: Bench):
    """The baseline's tasks module, configured for this broker and database, imported in this process."""
    os.environ.update(bench.env(None))
    from bench.celery_baseline import app

    return app


def welcome(i: int, prefix: str) -> dict:
    """The intent the Celery side sends: the same shape and template as the wheels side's."""
    return {"v": 1, "kind": "welcome", "intent_id": i, "user_id": None, "to": f"{prefix}{i}@example.com",
            "name": f"User {i}", "data": {}}


# -- measurements ------------------------------------------------------------------

def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_analytics(b: Bench) -> None:
    from bench.celery_baseline import jobs

    s = b.scale
    hour_end = BUSY_HOUR + timedelta(hours=1)
    day_end = DAY + timedelta(hours=s.backfill_hours)

    def sql_hour():
        b.sql("reset_rollups")
        b.sql("set_rollup_state", {"upto": hour_end})
        return timed(lambda: b.sql("sql_hourly", {"recompute_hours": 1, "as_of": hour_end}))

    def sql_day():
        b.sql("reset_rollups")
        return timed(lambda: b.sql("sql_hourly", {"recompute_hours": 0, "as_of": day_end}))

    def py_hour():
        b.sql("reset_rollups")
        return timed(lambda: jobs.rollup_hour(b.url, BUSY_HOUR))

    def py_day():
        b.sql("reset_rollups")
        return timed(lambda: [jobs.rollup_hour(b.url, DAY + timedelta(hours=h)) for h in range(s.backfill_hours)])

    r = b.results
    r["hour_sql"] = [sql_hour() for _ in range(s.runs)]
    r["hour_py"] = [py_hour() for _ in range(s.runs)]
    r["day_sql"] = [sql_day() for _ in range(s.runs)]
    sql_rows = b.sql("summary_rows")
    r["day_py"] = [py_day() for _ in range(s.runs)]
    py_rows = b.sql("summary_rows")
    r["rollups_agree"] = _same_rollups(sql_rows, py_rows)
    print(f"analytics: hour sql {median(r['hour_sql']):.2f}s py {median(r['hour_py']):.2f}s; "
          f"day sql {median(r['day_sql']):.2f}s py {median(r['day_py']):.2f}s; agree={r['rollups_agree']}",
          flush=True)


def _same_rollups(a: list[dict], b: list[dict]) -> bool:
    def strip(rows):
        return [{k: v for k, v in row.items() if k != "computed_at"} for row in rows]

    return len(a) > 0 and strip(a) == strip(b)


def measure_budget(b: Bench, app) -> None:
    """Detection + ledger + enqueue of every alert: one SQL call vs the Python task (no worker running)."""
    r = b.results
    r["budget_sql"], r["budget_py"] = [], []
    for _ in range(b.scale.runs):
        b.reset_emails()
        r["budget_sql"].append(timed(lambda: b.sql("sql_budget", {"as_of": BUDGET_AS_OF})))
        sql_kinds = b.sql("ledger_kinds")
        b.reset_emails()
        r["budget_py"].append(timed(lambda: app.budget_alerts(BUDGET_AS_OF.isoformat())))
        py_kinds = b.sql("ledger_kinds")
    b.reset_emails()
    r["alerts"] = {k["kind"]: k["n"] for k in sql_kinds}
    r["alerts_agree"] = sql_kinds == py_kinds and bool(sql_kinds)
    print(f"budget: sql {median(r['budget_sql']):.2f}s py {median(r['budget_py']):.2f}s "
          f"alerts {r['alerts']} agree={r['alerts_agree']}", flush=True)


@dataclass
class Delivery:
    wall_s: float
    requests: int
    cpu_s: float
    peak_rss: int
    processes: int


def deliver_wheels(b: Bench, n: int) -> Delivery:
    with stand_in() as stand, psycopg.connect(b.url, row_factory=dict_row, autocommit=True,
                                              application_name=PRODUCER_APP) as producer:
        b.reset_emails()
        sender = b.start_sender(stand)
        try:
            pids = [sender.pid, *(r["pid"] for r in b.sql("backends", {"name": SENDER_APP})),
                    *(r["pid"] for r in b.sql("backends", {"name": PRODUCER_APP}))]
            with Footprint(pids) as fp:
                start = time.perf_counter()
                b.enqueue_wheels(n, f"d{time.monotonic_ns()}-", conn=producer)
                if not stand.wait_for(n, 300):
                    raise RuntimeError(f"wheels delivered {stand.count()} of {n}")
                wall = time.perf_counter() - start
            return Delivery(wall, stand.requests(), fp.cpu_s, fp.peak_rss, 1 + len(psutil.Process(sender.pid).children()))
        finally:
            kill_group(sender, signal.SIGTERM)


def deliver_celery(b: Bench, app, n: int) -> Delivery:
    with stand_in() as stand:
        b.reset_emails()
        worker = b.start_worker(stand)
        try:
            intents = [welcome(i, f"c{i}-") for i in range(1, n + 1)]
            with Footprint([worker.pid, b.redis_pid]) as fp:
                start = time.perf_counter()
                producer_cpu = time.thread_time()
                for intent in intents:
                    app.send_email.delay(intent)
                producer_cpu = time.thread_time() - producer_cpu
                if not stand.wait_for(n, 600):
                    raise RuntimeError(f"Celery delivered {stand.count()} of {n}")
                wall = time.perf_counter() - start
            procs = 1 + len(psutil.Process(worker.pid).children())
            return Delivery(wall, stand.requests(), fp.cpu_s + producer_cpu, fp.peak_rss, procs)
        finally:
            kill_group(worker, signal.SIGTERM)


def measure_delivery(b: Bench, app) -> None:
    r = b.results
    r["deliver_wheels"] = [deliver_wheels(b, b.scale.emails) for _ in range(b.scale.runs)]
    r["deliver_celery"] = [deliver_celery(b, app, b.scale.emails) for _ in range(b.scale.runs)]
    for side in ("wheels", "celery"):
        d = r[f"deliver_{side}"]
        print(f"delivery {side}: {median([x.wall_s for x in d]):.2f}s, {median([x.requests for x in d])} requests, "
              f"cpu {median([x.cpu_s for x in d]):.2f}s, rss {median([x.peak_rss for x in d]) / 2**20:.0f} MiB",
              flush=True)


def latencies(sent: dict[int, float], stand: StandIn) -> list[float]:
    accepted = dict(stand.accepted())
    return [accepted[i] - t for i, t in sent.items() if i in accepted]


def measure_latency(b: Bench, app) -> None:
    n, r = b.scale.latency_samples, b.results
    with stand_in() as stand, psycopg.connect(b.url, row_factory=dict_row, autocommit=True) as producer:
        b.reset_emails()
        sender = b.start_sender(stand)
        try:
            sent = {}
            for i in range(n):
                t = time.monotonic()
                sent[b.enqueue_wheels(1, f"l{i}-", conn=producer)[0]] = t
                time.sleep(0.1)
            stand.wait_for(n, 60)
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
                time.sleep(0.1)
            stand.wait_for(n, 60)
            r["latency_celery"] = latencies(sent, stand)
        finally:
            kill_group(worker, signal.SIGTERM)
    for side in ("wheels", "celery"):
        p50, p99 = percentiles(r[f"latency_{side}"])
        print(f"latency {side}: p50 {p50 * 1000:.1f} ms p99 {p99 * 1000:.1f} ms", flush=True)


def percentiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


@dataclass
class KillOutcome:
    intents: int
    accepted: int
    distinct: int
    kills: int

    @property
    def duplicates(self) -> int:
        return self.accepted - self.distinct

    @property
    def lost(self) -> int:
        return self.intents - self.distinct


def kill_run(stand: StandIn, start, n: int) -> KillOutcome:
    """Start a consumer; SIGKILL it (and its children) when a third and two thirds of
    the intents were accepted, restarting it at once; then wait until every intent
    arrived or nothing arrived for VISIBILITY_TIMEOUT_S + 15 s (the time a dead
    consumer's messages need to come back, plus margin)."""
    proc = start()
    kills = 0
    try:
        for fraction in (1 / 3, 2 / 3):
            stand.wait_for(int(n * fraction), 300)
            kill_group(proc)
            kills += 1
            proc = start()
        quiet_s, last, since = VISIBILITY_TIMEOUT_S + 15, -1, time.monotonic()
        while time.monotonic() - since < quiet_s:
            accepted = stand.accepted()
            if len({i for i, _ in accepted}) >= n:
                break
            if len(accepted) != last:
                last, since = len(accepted), time.monotonic()
            time.sleep(0.5)
        time.sleep(1)  # a duplicate in flight lands
    finally:
        kill_group(proc, signal.SIGTERM)
    accepted = stand.accepted()
    return KillOutcome(n, len(accepted), len({i for i, _ in accepted}), kills)


def measure_kills(b: Bench, app, *, acks_late_too: bool) -> None:
    n, r = b.scale.kill_emails, b.results
    with stand_in() as stand:
        b.reset_emails()
        b.enqueue_wheels(n, "k")
        r["kill_wheels"] = kill_run(stand, lambda: b.start_sender(stand), n)
    variants = [("kill_celery_early", False)] + ([("kill_celery_late", True)] if acks_late_too else [])
    for key, acks_late in variants:
        with stand_in() as stand:
            b.reset_emails()
            for i in range(1, n + 1):
                app.send_email.delay(welcome(i, "k"))
            r[key] = kill_run(stand, lambda: b.start_worker(stand, acks_late=acks_late), n)
    for key in ("kill_wheels", "kill_celery_early", "kill_celery_late"):
        if key in r:
            print(f"{key}: {r[key]}", flush=True)


def measure_beat(b: Bench) -> None:
    """Celery Beat's own footprint: started, left idle 3 s, measured, stopped."""
    with stand_in() as stand:
        beat = start_group([sys.executable, "-m", "celery", "-A", "bench.celery_baseline.app", "beat",
                            "--loglevel", "WARNING", "-s", str(b.work / "beat-schedule")],
                           b.env(stand), b.work / "beat.log")
        try:
            time.sleep(3)
            p = psutil.Process(beat.pid)
            b.results["beat_rss"] = sum(x.memory_info().rss for x in [p, *p.children(recursive=True)])
            b.results["beat_alive"] = beat.poll() is None
        finally:
            kill_group(beat, signal.SIGTERM)
    b.results["redis_rss"] = psutil.Process(b.redis_pid).memory_info().rss


# -- set-up --------------------------------------------------------------------------

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


@contextmanager
def redis_server(work: Path):
    port = free_loopback_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(work)],
                            stdout=open(work / "redis.log", "wb"), stderr=subprocess.STDOUT)
    try:
        import redis

        client = redis.Redis(port=port)
        wait_until(lambda: _pings(client), 30, "redis-server")
        yield f"redis://127.0.0.1:{port}/0", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def _pings(client) -> bool:
    try:
        return client.ping()
    except Exception:  # not listening yet
        return False


@contextmanager
def cluster(work: Path):
    c = Cluster(work / "pg" / "data", database="wheels")
    (work / "pg").mkdir()
    work.chmod(0o755)
    (work / "pg").chmod(0o755)
    try:
        url = c.ensure_running()
        migrate(url, schedule_jobs=False)
        yield url
    finally:
        c.stop()


def machine(url: str) -> dict[str, str]:
    import celery

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    with psycopg.connect(url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    redis_version = re.search(r"v=(\S+)", subprocess.run(["redis-server", "--version"], capture_output=True,
                                                         text=True).stdout)
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "memory": f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
            "postgresql": pg, "redis": redis_version.group(1) if redis_version else "?", "celery": celery.__version__,
            "python": platform.python_version(), "load": "%.1f %.1f %.1f" % os.getloadavg()}


# -- report --------------------------------------------------------------------------

def report(r: dict, s: Scale, m: dict, took: dict, duration_s: float) -> str:
    def ratio(base, ours):
        return f"{base / ours:.1f}x" if ours else "n/a"

    def secs(xs):
        return f"{median(xs):.2f} s"

    dw, dc = r["deliver_wheels"], r["deliver_celery"]
    w = {k: median([getattr(x, k) for x in dw]) for k in ("wall_s", "requests", "cpu_s", "peak_rss", "processes")}
    c = {k: median([getattr(x, k) for x in dc]) for k in ("wall_s", "requests", "cpu_s", "peak_rss", "processes")}
    lw, lc = percentiles(r["latency_wheels"]), percentiles(r["latency_celery"])
    rows = [
        f"| hourly rollup, busy hour ({s.rows_per_hour:,} rows) | {secs(r['hour_sql'])} | {secs(r['hour_py'])} | "
        f"{ratio(median(r['hour_py']), median(r['hour_sql']))} |",
        f"| rollup backfill, {s.backfill_hours} h ({s.rows_per_hour * s.backfill_hours:,} rows) | "
        f"{secs(r['day_sql'])} | {secs(r['day_py'])} | {ratio(median(r['day_py']), median(r['day_sql']))} |",
        f"| budget-alert detection, {s.users:,} users / {2 * s.users:,} categories "
        f"({sum(r['alerts'].values()):,} alerts enqueued) | {secs(r['budget_sql'])} | {secs(r['budget_py'])} | "
        f"{ratio(median(r['budget_py']), median(r['budget_sql']))} |",
        f"| deliver {s.emails:,} emails: wall time | {w['wall_s']:.2f} s | {c['wall_s']:.2f} s | "
        f"{ratio(c['wall_s'], w['wall_s'])} |",
        f"| … emails/s | {s.emails / w['wall_s']:,.0f} | {s.emails / c['wall_s']:,.0f} | "
        f"{ratio(w['wall_s'], c['wall_s'])} (inverse) |",
        f"| … API requests | {w['requests']:,.0f} | {c['requests']:,.0f} | {ratio(c['requests'], w['requests'])} |",
        f"| … CPU seconds, all processes | {w['cpu_s']:.2f} s | {c['cpu_s']:.2f} s | {ratio(c['cpu_s'], w['cpu_s'])} |",
        f"| … peak RSS, all processes | {w['peak_rss'] / 2**20:.0f} MiB | {c['peak_rss'] / 2**20:.0f} MiB | "
        f"{ratio(c['peak_rss'], w['peak_rss'])} |",
        f"| enqueue-to-send latency, 1 every 100 ms: p50 | {lw[0] * 1000:.1f} ms | {lc[0] * 1000:.1f} ms | "
        f"{ratio(lc[0], lw[0])} |",
        f"| … p99 ({s.latency_samples} emails) | {lw[1] * 1000:.1f} ms | {lc[1] * 1000:.1f} ms | {ratio(lc[1], lw[1])} |",
    ]
    kills = [("wheels-jobs (`sender drain`)", r["kill_wheels"]), ("Celery, default acks (early)", r["kill_celery_early"])]
    if "kill_celery_late" in r:
        kills.append(("Celery, `acks_late=True`", r["kill_celery_late"]))
    kill_rows = [f"| {name} | {k.intents:,} | {k.kills} | {k.accepted:,} | {k.duplicates} | {k.lost} |"
                 for name, k in kills]
    runs = f"median of {s.runs} runs" if s.runs > 1 else "1 run"
    lines = [
        SECTION, "",
        f"`{COMMAND}` ({duration_s / 60:.1f} min including set-up and data generation), {time.strftime('%Y-%m-%d')}. "
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory']}, load average at start {m['load']}; "
        f"PostgreSQL {m['postgresql']} (embedded cluster, default settings), Redis {m['redis']} "
        f"(no persistence: `--save ''`), Celery {m['celery']} with the Redis transport, Python {m['python']}. "
        f"Figures are the {runs} unless said otherwise; ratio = Celery / wheels-jobs (above 1: wheels-jobs is "
        f"faster or smaller).", "",
        "| measurement | wheels-jobs | Celery + Redis | ratio |", "| --- | --- | --- | --- |", *rows, "",
        f"Data, generated set-based: {s.rows_per_hour * s.backfill_hours:,} PAM events "
        f"({took['events']:.0f} s), {s.users:,} users with 2 budget categories and "
        f"{s.expenses_per_category + 1} expenses each ({took['users']:.0f} s). "
        f"Rollup results identical on both sides: {'yes' if r['rollups_agree'] else 'NO'}; "
        f"budget alerts identical ({', '.join(f'{v:,} {k}' for k, v in r['alerts'].items())}): "
        f"{'yes' if r['alerts_agree'] else 'NO'}.", "",
        f"SIGKILL of the consumer at a third and at two thirds of {s.kill_emails:,} emails, restarted at once "
        f"(Celery: the worker's whole process group), then waited until every email arrived or nothing arrived "
        f"for {VISIBILITY_TIMEOUT_S + 15} s; both sides hand a dead consumer's messages out again after "
        f"{VISIBILITY_TIMEOUT_S} s (pgmq visibility timeout; Redis transport `visibility_timeout`, "
        "whose Celery default is 1 hour, so with defaults the re-delivered ones below come an hour later):", "",
        "| consumer | emails | kills | accepted by the stand-in | duplicates | lost |", "| --- | --- | --- | --- | --- | --- |",
        *kill_rows, "",
        "Processes each design needs running:", "",
        "| design | processes |", "| --- | --- |",
        f"| wheels-jobs | PostgreSQL with pg_cron (scheduler is a background worker inside it) + "
        f"`sender drain` ({w['processes']:.0f} process) |",
        f"| Celery + Redis | PostgreSQL + redis-server ({r['redis_rss'] / 2**20:.0f} MiB idle after the run) + "
        f"celery worker ({c['processes']:.0f} processes: main + prefork children) + celery beat "
        f"({r['beat_rss'] / 2**20:.0f} MiB) |",
        "",
    ]
    return "\n".join(lines)


def write_section(section: str) -> None:
    path = ROOT / "docs" / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else \
        text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


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
        b = Bench(url, broker_url, redis_pid, work, scale)
        measure_analytics(b)
        app = celery_producer(b)
        measure_budget(b, app)
        measure_delivery(b, app)
        measure_latency(b, app)
        measure_kills(b, app, acks_late_too=not args.no_acks_late)
        measure_beat(b)
    section = report(b.results, scale, m, took, time.perf_counter() - started)
    print(section)
    if not args.quick:
        write_section(section)


if __name__ == "__main__":
    main()
