"""The baseline's job bodies in plain Python, as the replaced Celery tasks did them.

Each fetches rows through psycopg and decides in Python: the hourly rollup
aggregates an hour's events (counts, exact percentiles with the same linear
interpolation as percentile_cont), budget alerts sum each category's expenses in
its owner's local month. No Celery here, so the smoke test can run them alone;
bench/celery_baseline/app.py wraps them in tasks. They write the same tables
(analytics_summary, wheels.email_ledger) as the SQL jobs, so results compare.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from wheels_core import queries

Q = queries.load("bench.celery_baseline")
HOUR = timedelta(hours=1)
# Wider than any UTC offset: the budget window covers every user's local month.
MAX_UTC_OFFSET = timedelta(hours=14)


def _round(value, places: str) -> Decimal | None:
    """SQL's round(x::numeric, n): a float becomes numeric with 15 significant digits, then half away from zero."""
    if value is None:
        return None
    exact = value if isinstance(value, (int, Decimal)) else Decimal(f"{value:.15g}")
    return Decimal(exact).quantize(Decimal(places), ROUND_HALF_UP)


def hour_stats(rows: list[dict]) -> dict | None:
    """analytics_summary's measures of one hour's events, computed in Python; None when there are none."""
    if not rows:
        return None
    kinds = Counter(r["event_type"] for r in rows)
    successes = sum(1 for r in rows if r["success"] is True)
    failures = sum(1 for r in rows if r["success"] is False)
    times = sorted(r["response_time_ms"] for r in rows if r["response_time_ms"] is not None)
    if len(times) >= 2:
        cuts = statistics.quantiles(times, n=100, method="inclusive")
        p50, p95, p99 = cuts[49], cuts[94], cuts[98]
    else:
        p50 = p95 = p99 = times[0] if times else None
    return {
        "messages": kinds["message"], "responses": kinds["response"],
        "distinct_users": len({r["user_id"] for r in rows if r["user_id"] is not None}),
        "successes": successes, "failures": failures,
        "success_rate": _round(Decimal(successes) / (successes + failures), "0.0001") if successes + failures else None,
        "response_time_avg_ms": _round(Decimal(sum(times)) / len(times), "0.1") if times else None,
        "response_time_p50_ms": _round(p50, "0.1"), "response_time_p95_ms": _round(p95, "0.1"),
        "response_time_p99_ms": _round(p99, "0.1"), "response_time_max_ms": times[-1] if times else None,
        "intents": dict(Counter(r["intent"] for r in rows if r["intent"] is not None)),
    }


def rollup_hour(url: str, hour: datetime) -> dict | None:
    """Fetch one hour's events, aggregate them in Python, upsert its analytics_summary row."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        stats = hour_stats(conn.execute(Q["hour_events"], {"start": hour, "end": hour + HOUR}).fetchall())
        if stats is not None:
            conn.execute(Q["upsert_summary"], {**stats, "hour": hour, "intents": Jsonb(stats["intents"])})
    return stats


def budget_alerts(url: str, as_of: datetime) -> list[dict]:
    """New budget facts for each category's local month, in the ledger; their intents (docs/INTENTS.md v1)."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        limits = conn.execute(Q["budget_settings"]).fetchone()
        categories = conn.execute(Q["budget_categories"]).fetchall()
        months = {}  # time zone -> (month label, UTC start, UTC end)
        for tz in {c["timezone"] for c in categories}:
            local = as_of.astimezone(ZoneInfo(tz))
            start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            end = (start + timedelta(days=32)).replace(day=1)
            months[tz] = (start.strftime("%Y-%m"), start, end)
        spent: dict[int, Decimal] = defaultdict(Decimal)
        window = {"start": as_of.replace(day=1) - MAX_UTC_OFFSET - timedelta(days=1),
                  "end": as_of.replace(day=28) + timedelta(days=4) + MAX_UTC_OFFSET}
        owner_month = {c["id"]: months[c["timezone"]] for c in categories}
        for e in conn.execute(Q["window_expenses"], window):
            _, start, end = owner_month[e["category_id"]]
            if start <= e["spent_at"] < end:
                spent[e["category_id"]] += e["amount"]
        opted_out = {r["user_id"] for r in conn.execute(Q["opted_out_users"])}
        suppressed = {r["email"] for r in conn.execute(Q["suppressed_addresses"])}
        known = {(r["kind"], r["subject"], r["period"]) for r in conn.execute(
            Q["budget_ledger_keys"], {"months": sorted({m[0] for m in months.values()})})}
        alerts = []
        for c in categories:
            month = owner_month[c["id"]][0]
            percent = spent[c["id"]] * 100 / c["monthly_limit"]
            subject = str(c["id"])
            if percent >= limits["over_percent"]:
                kind = "over_budget"
            elif percent >= limits["warning_percent"] and ("over_budget", subject, month) not in known:
                kind = "budget_warning"
            else:
                continue
            if (kind, subject, month) in known or c["user_id"] in opted_out or c["email"].lower() in suppressed:
                continue
            alerts.append((c, kind, month, percent))
        intents = []
        with conn.cursor() as cur:
            cur.executemany(Q["insert_ledger"], [
                {"kind": kind, "subject": str(c["id"]), "period": month, "user_id": c["user_id"],
                 "recipient": c["email"]} for c, kind, month, _ in alerts], returning=True)
            for c, kind, month, percent in alerts:
                row = cur.fetchone()
                if row is not None:
                    intents.append({
                        "v": 1, "kind": kind, "intent_id": row["id"], "user_id": str(c["user_id"]),
                        "to": c["email"], "name": c["full_name"],
                        "data": {"category": c["name"], "month": month, "spent": float(spent[c["id"]]),
                                 "limit": float(c["monthly_limit"]),
                                 "percent": float(percent.quantize(Decimal("0.1"), rounding=ROUND_DOWN))}})
                if not cur.nextset():
                    break
    return intents
