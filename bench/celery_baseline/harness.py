"""What the side-by-side benchmark runs things with: a fresh embedded PostgreSQL,
a redis-server on a loopback port, the Resend stand-in in its own process, process
groups that can be SIGKILLed whole, and a sampler of their CPU time and memory."""

from __future__ import annotations

import multiprocessing
import os
import platform
import re
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import psycopg

from wheels_jobs.embedded import Cluster, free_loopback_port
from wheels_jobs.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE_INTERVAL_S = 0.1
# Both sides hand a dead consumer's messages to another after this many seconds
# (pgmq's visibility timeout; the Redis transport's visibility_timeout, Celery's default 3600).
VISIBILITY_TIMEOUT_S = 10


class Footprint:
    """CPU seconds per group of processes (each with its children) and the peak of
    their summed RSS, sampled every SAMPLE_INTERVAL_S while in the `with` block."""

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.label: dict[int, str] = {}
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, baseline: bool = False) -> None:
        """One look at every process; CPU counts from the first look (from 0 for a process born later)."""
        rss = 0
        for label, pids in self.groups.items():
            for pid in pids:
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
                    self.label[p.pid] = label
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

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds used in the block, per group."""
        used = dict.fromkeys(self.groups, 0.0)
        for pid, last in self.last.items():
            used[self.label[pid]] += last - self.first[pid]
        return used


class StandIn:
    """The Resend stand-in (tests/resend_stub.py) in its own process, asked over a
    pipe (its /_stub/stats returns every accepted email, too heavy to poll at 10k)."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve_stand_in, args=(child,), daemon=True)
        self.process.start()
        self.url, self.api_key = self._conn.recv()

    def _ask(self, command: str):
        self._conn.send(command)
        return self._conn.recv()

    def count(self) -> int:
        """Emails accepted so far."""
        return self._ask("count")

    def accepted(self) -> list[tuple[int, float]]:
        """(intent id, time.monotonic() when accepted) of every accepted email."""
        return self._ask("accepted")

    def requests(self) -> int:
        """API requests received so far."""
        return self._ask("requests")

    def wait_for(self, count: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.count() < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        self._ask("stop")
        self.process.join(5)


def _serve_stand_in(conn) -> None:
    from tests.resend_stub import ResendStub

    stub = ResendStub().start()
    conn.send((stub.url, stub.api_key))
    answers = {
        "count": lambda: len(stub.accepted),
        "accepted": lambda: [(a.intent_id, a.at) for a in stub.accepted],
        "requests": lambda: len(stub.requests),
    }
    while (command := conn.recv()) != "stop":
        conn.send(answers[command]())
    stub.stop()
    conn.send(None)


@contextmanager
def stand_in():
    """A fresh stand-in (nothing accepted yet), stopped afterwards."""
    s = StandIn()
    try:
        yield s
    finally:
        s.close()


def start_group(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process in its own session, so a SIGKILL of the group reaches its children too; output to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal the whole group and reap it (SIGKILL after 20 s if a SIGTERM was not enough)."""
    try:
        os.killpg(proc.pid, sig)
        proc.wait(20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_until(predicate, timeout_s: float, what: str):
    """predicate()'s first truthy value, polled every 50 ms; RuntimeError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)
    return value


@contextmanager
def redis_server(work: Path):
    """redis-server on a free loopback port, persistence off; yields (broker URL, pid)."""
    import redis

    port = free_loopback_port()
    with open(work / "redis.log", "wb") as log:
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(work)], stdout=log, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(port=port)
        wait_until(lambda: _pings(client), 30, "redis-server")
        yield f"redis://127.0.0.1:{port}/0", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def _pings(client) -> bool:
    import redis

    try:
        return client.ping()
    except redis.ConnectionError:  # not listening yet
        return False


@contextmanager
def cluster(work: Path):
    """A fresh embedded cluster under `work` (default settings), migrated without schedules; yields its URL."""
    (work / "pg").mkdir()
    for folder in (work, work / "pg"):
        folder.chmod(0o755)  # as root the server runs as `postgres`, which must reach its data folder
    c = Cluster(work / "pg" / "data", database="wheels")
    try:
        url = c.ensure_running()
        migrate(url, "demo", schedule_jobs=False)
        yield url
    finally:
        c.stop()


def machine(url: str) -> dict[str, str]:
    """What the figures were measured on."""
    import celery

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    with psycopg.connect(url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    version = re.search(r"v=(\S+)", subprocess.run(["redis-server", "--version"], capture_output=True,
                                                   text=True).stdout)
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "memory": f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
            "postgresql": pg.split()[0], "redis": version.group(1) if version else "?", "celery": celery.__version__,
            "python": platform.python_version(), "load": "%.1f %.1f %.1f" % os.getloadavg()}
