"""The demo data set: realistic synthetic users, budgets, vehicles and PAM chat.

Loaded once per database (a re-run finds the demo users and loads nothing), in
set-based statements, one transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from wheels_jobs import db, queries

DEMO_USERS = 200
Q = queries.load("wheels_jobs", "demo.sql")
STEPS = ["profiles", "budget_categories", "expenses", "vehicles", "fuel_logs", "maintenance_records", "pam_analytics_logs"]


def load_demo_data(url: str, on_step: Callable[[str, int], None] = lambda step, rows: None) -> dict[str, int]:
    """Insert the data set unless it is there; return rows inserted per table (empty: already loaded)."""
    with db.connect(url) as conn:
        if conn.execute(Q["demo_loaded"]).fetchone()[0]:
            return {}
        conn.execute(Q["seed"], {"users": DEMO_USERS})
        inserted = {}
        for step in STEPS:
            inserted[step] = conn.execute(Q[step]).rowcount
            on_step(step, inserted[step])
        return inserted
