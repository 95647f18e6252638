"""Benchmark of the sender's edge: rendering, ResendTransport against the stand-in, the outbox.

Run: .venv/bin/python -m bench.edge   (writes its section of docs/BENCHMARKS.md)

The stand-in runs in its own process, as Resend would, so the numbers are the
sender side's cost plus one local HTTP round trip per 100-email batch.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sender.render import render
from wheels_core.email_settings import EmailSettings
from sender.transports import OutboxTransport, ResendTransport

from bench.sections import write_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Sender edge: rendering and transports"
SETTINGS = EmailSettings("Wheels <noreply@wheels.test>", "https://wheels.test/unsubscribe", b"bench-secret")
USER = "9b2e7c1a-3f4d-4e5a-9b6c-7d8e9f0a1b2c"
DATA = {
    "budget_warning": {"category": "Fuel", "month": "2026-11", "spent": 412.5, "limit": 500, "percent": 82.5},
    "maintenance_reminder": {"title": "Oil change", "vehicle": "Troopy", "due_date": "2026-12-05", "days_left": 5},
    "daily_digest": {"day": "2026-11-29", "spending": [{"category": "Fuel", "amount": 80.0}] * 3,
                     "budgets": [{"category": "Fuel", "spent": 412.5, "limit": 500, "percent": 82.5}] * 3,
                     "maintenance": [{"title": "Oil change", "vehicle": "Troopy", "due_date": "2026-12-05"}],
                     "pam": {"messages": 12}},
}
EMAILS = 10_000
BATCH = 100


def intents(kind: str, count: int) -> list[dict]:
    return [{"v": 1, "kind": kind, "intent_id": i, "user_id": USER, "to": f"user{i}@example.com",
             "name": f"User {i}", "data": DATA[kind]} for i in range(1, count + 1)]


def bench_render() -> list[str]:
    rows = []
    for kind in DATA:
        messages = intents(kind, 3000)
        start, cpu = time.perf_counter(), time.process_time()
        for m in messages:
            render(m, SETTINGS)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        rows.append(f"| render `{kind}` | {len(messages) / wall:,.0f} emails/s | "
                    f"{cpu / len(messages) * 1e6:,.0f} µs CPU each |")
    return rows


def bench_resend(emails) -> list[str]:
    with subprocess.Popen([sys.executable, "-m", "tests.resend_stub"], cwd=ROOT, stdout=subprocess.PIPE,
                          text=True) as stub:
        try:
            url, key = (part.split("=", 1)[1] for part in stub.stdout.readline().split())
            transport = ResendTransport(key, url)
            calls = []
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(emails), BATCH):
                t = time.perf_counter()
                transport.send_batch(emails[i:i + BATCH], f"bench-{i}")
                calls.append(time.perf_counter() - t)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        finally:
            stub.terminate()
    return [f"| ResendTransport → stand-in, {BATCH}-email batches | {len(emails) / wall:,.0f} emails/s | "
            f"p50 {statistics.median(calls) * 1000:.1f} ms per call, sender CPU "
            f"{cpu / len(emails) * 1000:.2f} s per 1,000 emails |"]


def bench_outbox(emails) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        outbox = OutboxTransport(Path(folder))
        start = time.perf_counter()
        for i in range(0, len(emails), BATCH):
            outbox.send_batch(emails[i:i + BATCH], "bench")
        wall = time.perf_counter() - start
    return [f"| OutboxTransport (.eml files) | {len(emails) / wall:,.0f} emails/s | email package + one file each |"]


def main() -> None:
    emails = [render(m, SETTINGS) for m in intents("budget_warning", EMAILS)]
    rows = bench_render() + bench_resend(emails) + bench_outbox(emails[:2000])
    section = "\n".join([
        SECTION, "",
        f"`.venv/bin/python -m bench.edge` on this machine ({os.cpu_count()} cores shared with other work), "
        f"{time.strftime('%Y-%m-%d')}.", "",
        "| what | throughput | detail |", "| --- | --- | --- |", *rows, "",
    ])
    print(section)
    write_section(section)


if __name__ == "__main__":
    main()
