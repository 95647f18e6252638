"""The side-by-side benchmark's section of docs/BENCHMARKS.md: tables of medians,
ratios (Celery / wheels-jobs), what each figure includes, and a reading whose
verdicts follow the figures of the run."""

from __future__ import annotations

import statistics
import time

from bench.celery_baseline.harness import VISIBILITY_TIMEOUT_S

SECTION = "## wheels-jobs vs Celery + Redis"
COMMAND = "bash bench/run_comparison.sh"
MIB = 2**20


def median(values):
    return statistics.median(values) if values else float("nan")


def percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p99), linear interpolation."""
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


def median_delivery(runs: list) -> dict:
    """Each Delivery field's median over the runs (CPU per group and in total)."""
    groups = runs[0].cpu_s
    return {
        **{k: median([getattr(d, k) for d in runs]) for k in ("wall_s", "enqueue_s", "requests", "peak_rss",
                                                               "processes")},
        "cpu": {g: round(median([d.cpu_s[g] for d in runs]), 2) for g in groups},
        "cpu_total": median([sum(d.cpu_s.values()) for d in runs]),
    }


def ratio(celery: float, wheels: float) -> str:
    if not wheels:
        return "n/a"
    x = celery / wheels
    return f"{x:.1f}x" if x >= 1 else f"{x:.2g}x"


def verdict(celery: float, wheels: float, what: str) -> str:
    """Who wins `what` (smaller is better), and by how much."""
    if wheels <= 0 or celery <= 0:
        return f"{what}: no verdict"
    if 0.9 <= celery / wheels <= 1.1:
        return f"{what}: even (within 10 %)"
    if celery > wheels:
        return f"{what}: **wheels-jobs**, {celery / wheels:.1f}x"
    return f"{what}: **Celery + Redis**, {wheels / celery:.1f}x"


def per_run(outcomes: list, field: str) -> str:
    """The total of a KillOutcome field, with each run's figure when there are several."""
    values = [getattr(k, field) for k in outcomes]
    return f"{sum(values):,}" + (f" ({' + '.join(map(str, values))})" if len(values) > 1 else "")


def render(r: dict, s, m: dict, took: dict, duration_s: float) -> str:
    sec = lambda xs: f"{median(xs):.2f} s"  # noqa: E731
    w, c = (median_delivery(r[k]) for k in ("deliver_wheels", "deliver_celery"))
    lw, lc = (percentiles(r[k]) for k in ("latency_wheels", "latency_celery"))
    ms = lambda x: f"{x * 1000:.1f} ms"  # noqa: E731
    hour = (median(r["hour_py"]), median(r["hour_sql"]))
    day = (median(r["day_py"]), median(r["day_sql"]))
    budget = (median(r["budget_py"]), median(r["budget_sql"]))
    alerts = sum(r["alerts"].values())
    slowest = max(r["latency_wheels"], default=float("nan"))
    runs = f"medians of {s.runs} runs" if s.runs > 1 else "single runs"
    main_rows = [
        f"| hourly rollup of a busy hour ({s.rows_per_hour:,} events) | {sec(r['hour_sql'])} | {sec(r['hour_py'])} "
        f"| {ratio(*hour)} |",
        f"| rollup backfill, {s.backfill_hours} hours ({s.rows_per_hour * s.backfill_hours:,} events) | "
        f"{sec(r['day_sql'])} | {sec(r['day_py'])} | {ratio(*day)} |",
        f"| budget-alert detection, {s.users:,} users, {2 * s.users:,} categories, {alerts:,} alerts "
        f"enqueued | {sec(r['budget_sql'])} | {sec(r['budget_py'])} | {ratio(*budget)} |",
        f"| deliver {s.emails:,} emails: wall time | {w['wall_s']:.2f} s | {c['wall_s']:.2f} s | "
        f"{ratio(c['wall_s'], w['wall_s'])} |",
        f"| … of which enqueueing them | {w['enqueue_s']:.2f} s | {c['enqueue_s']:.2f} s | "
        f"{ratio(c['enqueue_s'], w['enqueue_s'])} |",
        f"| … emails/s | {s.emails / w['wall_s']:,.0f} | {s.emails / c['wall_s']:,.0f} | "
        f"{ratio(w['wall_s'], c['wall_s'])} |",
        f"| … API requests to the stand-in | {w['requests']:,.0f} | {c['requests']:,.0f} | "
        f"{ratio(c['requests'], w['requests'])} |",
        f"| … CPU seconds, all processes involved | {w['cpu_total']:.2f} s | {c['cpu_total']:.2f} s | "
        f"{ratio(c['cpu_total'], w['cpu_total'])} |",
        f"| … peak RSS, all processes involved | {w['peak_rss'] / MIB:.0f} MiB | {c['peak_rss'] / MIB:.0f} MiB | "
        f"{ratio(c['peak_rss'], w['peak_rss'])} |",
        f"| enqueue-to-send latency, one email every {r['latency_gap_s'] * 1000:.0f} ms: p50 | {ms(lw[0])} | {ms(lc[0])} | {ratio(lc[0], lw[0])} |",
        f"| … p99 ({s.latency_samples} emails) | {ms(lw[1])} | {ms(lc[1])} | {ratio(lc[1], lw[1])} |",
    ]
    kills = [("wheels-jobs, `sender drain`", r["kill_wheels"]), ("Celery, default (early) acks", r["kill_celery_early"])]
    if "kill_celery_late" in r:
        kills.append(("Celery, `acks_late=True`", r["kill_celery_late"]))
    cpu_split = lambda d: ", ".join(f"{g} {v:.2f} s" for g, v in d["cpu"].items())  # noqa: E731
    lines = [
        SECTION, "",
        f"`{COMMAND}` took {duration_s / 60:.1f} min (set-up, data generation and all runs), "
        f"{time.strftime('%Y-%m-%d')}. Machine: {m['nproc']} cores ({m['cpu']}), {m['memory']}, load average "
        f"{m['load']} at the start; PostgreSQL {m['postgresql']} (fresh embedded cluster, default settings), "
        f"Redis {m['redis']} (persistence off), Celery {m['celery']} (Redis transport, default prefork "
        f"worker), Python {m['python']}. Figures are {runs}; ratio = Celery / wheels-jobs, so above 1 means "
        f"the baseline takes more time, CPU, memory or requests (for emails/s: the baseline's share of "
        f"wheels-jobs' throughput).", "",
        "| measurement | wheels-jobs | Celery + Redis | ratio |", "| --- | --- | --- | --- |", *main_rows, "",
        "What each side does and what is counted:", "",
        "- Both sides read the same tables of one database, generated set-based: "
        f"{s.rows_per_hour * s.backfill_hours:,} PAM events in {s.backfill_hours} hours ({took['events']:.0f} s), "
        f"{s.users:,} users in 5 time zones with 2 budget categories and {s.expenses_per_category + 1} expenses "
        f"each ({took['users']:.0f} s). Same results: rollup rows identical "
        f"{'yes' if r['rollups_agree'] else '**NO**'}; alerts identical "
        f"({', '.join(f'{v:,} {k}' for k, v in r['alerts'].items())}) {'yes' if r['alerts_agree'] else '**NO**'}.",
        "- Rollups: `wheels.analytics_hourly` vs the baseline task body (fetch the hour's rows through "
        "psycopg, count and take exact percentiles in Python, upsert the row), run in the benchmark's process; "
        f"the backfill is {s.backfill_hours} such hours, one `analytics_hourly` call on the SQL side.",
        "- Budget alerts: `wheels.budget_alerts` (ledger rows + pgmq messages in one transaction) vs the baseline "
        "task (fetch categories and the month's expenses, sum per local month in Python, the same ledger rows, "
        "then one `send_email.delay` per alert into Redis; no worker running).",
        "- Delivery: welcome emails (same intent shape and template on both sides) to an idle consumer, from "
        "the first enqueue to the last email accepted by the stand-in (a fresh one per run, in its own process, "
        "no rate limit, no faults). No rate limit on either side (`sender drain --no-rate-limit`; Celery has "
        "none). wheels-jobs: one statement enqueues all (ledger + `pgmq.send_batch`), which wakes the sender "
        "with one NOTIFY (sql/0001_wheels.sql), one `sender drain` process sends 100-email batches with an idempotency key. Celery: one `.delay()` per email from the "
        "benchmark's process, the worker (prefork, 2 children) makes one `resend.Emails.send` per email. "
        f"CPU split, wheels-jobs: {cpu_split(w)}; Celery: {cpu_split(c)} (producer = the `.delay()` loop's "
        "thread CPU). Peak RSS sums the same processes (PostgreSQL backends' RSS includes the shared buffers "
        "they touched; the Celery side does not use PostgreSQL while delivering).",
        f"- Latency: {s.latency_samples} emails one at a time, {r['latency_gap_s'] * 1000:.0f} ms apart, from the producer's "
        "call to the stand-in accepting the email (both read `time.monotonic()` on this machine): each "
        "`.delay()` is one LPUSH, each wheels-jobs email one INSERT statement and so one NOTIFY.", "",
        f"Crash: the consumer SIGKILLed when a third and when two thirds of {s.kill_emails:,} queued emails were "
        "accepted, restarted at once (Celery: the worker's whole process group), then waited until every "
        f"email arrived and no message was left, or none arrived for {r['kill_quiet_s']} s; runs of each "
        "consumer interleaved. A message left at the end would be handed out again later (and, on the Celery "
        "side, sent again if its email already went out). Both sides "
        "hand a dead "
        f"consumer's messages out again after {VISIBILITY_TIMEOUT_S} s (pgmq visibility timeout; the Redis "
        "transport's `visibility_timeout`, swept every second; with Celery's defaults, 1 hour and a sweep "
        "every 100 s, the re-deliveries below come an hour later):", "",
        "| consumer | runs × emails | accepted by the stand-in | duplicates | not delivered | messages left "
        "queued or unacknowledged at the end |",
        "| --- | --- | --- | --- | --- | --- |",
        *(f"| {name} | {len(ks)} × {ks[0].intents:,} | {per_run(ks, 'accepted')} | {per_run(ks, 'duplicates')} | "
          f"{per_run(ks, 'lost')} | {per_run(ks, 'waiting')} |" for name, ks in kills),
        "",
        "Processes and services each design needs running:", "",
        "| design | what runs |", "| --- | --- |",
        f"| wheels-jobs | PostgreSQL with pg_cron (the scheduler is a background worker inside it) + `sender drain` "
        f"({w['processes']:.0f} process) |",
        f"| Celery + Redis | PostgreSQL + redis-server ({r['redis_rss'] / MIB:.0f} MiB after the run) + celery worker "
        f"({c['processes']:.0f} processes: main + prefork children) + celery beat ({r['beat_rss'] / MIB:.0f} MiB "
        "idle) |", "",
        "Reading (verdicts computed from this run's medians; smaller wins):", "",
        f"- {verdict(*hour, 'busy-hour rollup')}; {verdict(*day, 'day backfill')}. Set-based SQL never moves "
        "the rows: the baseline ships every event over the connection and builds a Python object per row "
        "before it can count. The price: the aggregation CPU is spent on the database server, which the Celery "
        "design can move to worker machines.",
        f"- {verdict(*budget, 'budget alerts')}. The SQL side finds, records and enqueues every alert in "
        "set-based statements inside the database; the baseline fetches the categories and expenses, sums "
        "them in Python and makes one `.delay()` round trip to Redis per alert.",
        f"- {verdict(c['wall_s'], w['wall_s'], 'delivery wall time')}; "
        f"{verdict(c['cpu_total'], w['cpu_total'], 'delivery CPU')}; "
        f"{verdict(c['peak_rss'], w['peak_rss'], 'delivery memory')}; API requests "
        f"{c['requests'] / w['requests']:.0f}x fewer with wheels-jobs (100-email batches; the old tasks made one "
        "call per email, which also spends Resend's request-rate limit 100 times faster).",
        f"- {verdict(lc[0], lw[0], 'latency p50')}; {verdict(lc[1], lw[1], 'latency p99')}. Both are woken by "
        "their broker, with no polling on the way: the Celery worker blocks on BRPOP, `sender drain` LISTENs "
        "on the intent queue's channel and gets one NOTIFY per INSERT statement. wheels-jobs' path is longer "
        "(commit and notification, then a pgmq read and the batch and delivery rows committed before the "
        "provider call, then the outcome recorded) than one BRPOP and the task.",
        "- Crash: " + "; ".join(f"{name} {per_run(ks, 'duplicates')} duplicates, {per_run(ks, 'lost')} not "
                                f"delivered" for name, ks in kills)
        + ". Celery's early ack is sent by the worker's main process once the pool reports the task started: "
        "a task acknowledged but unfinished at the kill is never sent (a loss), one whose email went out before "
        "the ack reached Redis is sent again (a duplicate). Late acks retry every unfinished task, so an email "
        "the provider accepted just before the kill goes out twice. Either way the Redis transport can drop a "
        "message outright: BRPOP takes it off the queue before the worker records it as unacknowledged, and a "
        "kill in between leaves it nowhere. How many depends on where the kill lands. The "
        "baseline could only rule all this out with what wheels-jobs has: a ledger of intents, messages that "
        "stay in the queue until their outcome is recorded, and an idempotency key on every call.",
        f"- Waking the sender: one NOTIFY per INSERT statement (sql/0001_wheels.sql, in place of "
        f"pgmq's per-row trigger) keeps both cases above: the {s.emails:,}-email bulk enqueue is one statement "
        f"and one notification ({w['enqueue_s']:.2f} s), and a lone email gets its own notification "
        f"(at one email every {r['latency_gap_s'] * 1000:.0f} ms: p99 {ms(lw[1])}, slowest {ms(slowest)}, "
        + ("so none waited for the sender's 5 s poll)." if slowest < 1 else "so some waited for the sender's poll)."),
        "- Operations: wheels-jobs adds one process to the database it already has; the baseline adds a broker, "
        "a worker and a scheduler, three services to deploy, watch and pay for.",
        "",
    ]
    return "\n".join(lines)
