"""Benchmark of `sender drain`: drain throughput against the Resend stand-in with
the rate limit off, and the latency from enqueue to API call at low load.

Run: .venv/bin/python -m bench.sender [--emails 20000] [--senders 1 2]
     (writes its section of docs/BENCHMARKS.md)

A throwaway PostgreSQL cluster under /tmp (default durability settings), the
stand-in (tests/resend_stub.py) in this process, and real `sender drain`
processes; their CPU time comes from getrusage(RUSAGE_CHILDREN) and their
peak RSS from sampling them (psutil), so the stand-in's and PostgreSQL's work
is not counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import psycopg

from tests.resend_stub import ResendStub
from tests.sender_support import sender_argv, sender_env
from wheels_jobs.embedded import Cluster
from wheels_jobs.migrate import migrate

from bench.sections import write_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Sender: drain throughput and latency"
LATENCY_SAMPLES = 80
LATENCY_GAP_S = 0.6
RSS_SAMPLE_S = 0.02

# Budget warnings, the most common alert, for a realistic payload (~3 kB rendered).
ENQUEUE = """
WITH ledger AS (
    INSERT INTO wheels.email_ledger (kind, subject, period, user_id, recipient)
    SELECT 'budget_warning', %(prefix)s || g, '2026-11', gen_random_uuid(), 'user' || g || '@example.com'
    FROM generate_series(1, %(n)s) AS g
    RETURNING id, user_id, recipient
)
SELECT count(*) FROM pgmq.send_batch('email_intents', (SELECT array_agg(jsonb_build_object(
    'v', 1, 'kind', 'budget_warning', 'intent_id', id, 'user_id', user_id, 'to', recipient, 'name', 'User ' || id,
    'data', jsonb_build_object('category', 'Fuel', 'month', '2026-11', 'spent', 412.50, 'limit', 500.00,
                               'percent', 82.5)) ORDER BY id) FROM ledger))
"""


def enqueue(url: str, n: int, prefix: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(ENQUEUE, {"n": n, "prefix": prefix})


def vacuum(url: str) -> None:
    """What autovacuum does between bursts: the previous run's dead queue rows gone, statistics fresh."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def children_usage() -> float:
    """CPU seconds (user + system) of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def peak_memory(procs: list[subprocess.Popen]) -> int:
    """The largest RSS (bytes) any of the processes reached, sampled until they all exit."""
    watched = [psutil.Process(p.pid) for p in procs]
    peak = 0
    while any(p.poll() is None for p in procs):
        for proc in watched:
            try:
                peak = max(peak, proc.memory_info().rss)
            except psutil.NoSuchProcess:
                pass
        time.sleep(RSS_SAMPLE_S)
    return peak


def throughput(url: str, stub: ResendStub, emails: int, senders: int, run: int) -> str:
    enqueue(url, emails, f"run{run}-")
    vacuum(url)
    requests_before, accepted_before = len(stub.requests), len(stub.accepted)
    cpu_before = children_usage()
    start = time.monotonic()
    procs = [subprocess.Popen(sender_argv("--once", "--no-rate-limit", "--log-level", "WARNING"),
                              env=sender_env(url, stub), cwd=ROOT) for _ in range(senders)]
    peak_rss = peak_memory(procs)
    if any(p.wait() for p in procs):
        raise SystemExit("a sender failed")
    wall = time.monotonic() - start
    cpu_after = children_usage()
    accepted = stub.accepted[accepted_before:]
    requests = len(stub.requests) - requests_before
    assert len(accepted) == emails, f"{len(accepted)} of {emails} accepted"
    steady = (accepted[-1].at - accepted[0].at) or wall
    per_k = 1000 / emails
    return (f"| {senders} | {emails:,} | {emails / wall:,.0f} | {emails / steady:,.0f} | {requests * per_k:.1f} | "
            f"{(cpu_after - cpu_before) * per_k:.2f} | {peak_rss / 2**20:.0f} |")


def latency(url: str, stub: ResendStub) -> str:
    """One idle sender (default rate limit); intents enqueued one at a time."""
    proc = subprocess.Popen(sender_argv("--log-level", "WARNING"), env=sender_env(url, stub), cwd=ROOT)
    try:
        with psycopg.connect(url) as conn:
            while not conn.execute("SELECT count(*) FROM wheels.sender_heartbeats WHERE pid = %s",
                                   [proc.pid]).fetchone()[0]:
                time.sleep(0.05)
        before = len(stub.accepted)
        enqueued = []
        for i in range(LATENCY_SAMPLES):
            enqueue(url, 1, f"lat{i}-")
            enqueued.append(time.monotonic())
            time.sleep(LATENCY_GAP_S)
        deadline = time.monotonic() + 30
        while len(stub.accepted) - before < LATENCY_SAMPLES and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait()
    arrived = [a.at for a in stub.accepted[before:]]
    assert len(arrived) == LATENCY_SAMPLES, f"{len(arrived)} of {LATENCY_SAMPLES} sent"
    ms = sorted((a - e) * 1000 for a, e in zip(sorted(arrived), enqueued))
    p99 = ms[min(len(ms) - 1, round(0.99 * len(ms)) - 1)]
    return (f"| enqueue commit → stand-in accepts, idle sender (default 2 requests/s limit), one intent every "
            f"{LATENCY_GAP_S * 1000:.0f} ms "
            f"({LATENCY_SAMPLES} intents) | p50 {statistics.median(ms):.1f} ms | p99 {p99:.1f} ms | "
            f"max {ms[-1]:.1f} ms |")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    pg = subprocess.run(["bash", "-c", "ls /usr/lib/postgresql"], capture_output=True, text=True).stdout.split()
    return (f"{os.cpu_count()} vCPU {cpu}, {mem_gb:.0f} GB RAM, shared with other work; Linux {platform.release()}, "
            f"Python {platform.python_version()}, PostgreSQL {pg[-1] if pg else '?'} (local, default durability)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sender", description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=20_000)
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="wheels-bench-"))
    folder.chmod(0o755)
    cluster = Cluster(folder / "data")
    try:
        url = cluster.ensure_running()
        migrate(url, "demo", schedule_jobs=False)
        with ResendStub() as stub:
            rows = [throughput(url, stub, args.emails, n, run) for run, n in enumerate(args.senders)]
            latency_row = latency(url, stub)
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    command = "`.venv/bin/python -m bench.sender " + f"--emails {args.emails} --senders {' '.join(map(str, args.senders))}`"
    section = "\n".join([
        SECTION, "",
        f"{command}, {time.strftime('%Y-%m-%d')}, on {machine()}.",
        "Intents are `budget_warning` emails enqueued in one transaction (then VACUUM ANALYZE) before the senders start; "
        "`sender drain --once --no-rate-limit` processes drain them against the stand-in (in the benchmark's "
        "process). \"wall\" counts from process start (imports, connect) to exit; \"steady\" from the first to "
        "the last email the stand-in accepted. CPU and peak RSS are the sender processes' only. On this shared "
        "machine runs vary by tens of percent with the other work's load.", "",
        "| senders | emails | emails/s (wall) | emails/s (steady) | API requests per 1,000 emails "
        "| sender CPU s per 1,000 emails | peak RSS per sender (MB) |",
        "| --- | --- | --- | --- | --- | --- | --- |", *rows, "",
        "| latency | p50 | p99 | max |", "| --- | --- | --- | --- |", latency_row, "",
    ])
    print(section)
    write_section(section)


if __name__ == "__main__":
    main()
