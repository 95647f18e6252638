"""The same facts, different details: a Supabase-shaped database whose columns
differ in type from tests/supabase/app.sql (integer limits, timestamps for
dates, bigint times, varchar ids of nothing else) still meets the contract
through supabase-wheels' casts: `source check` finds no violation and the jobs run."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests import supabase_support
from tests.conftest import run_cli
from wheels_jobs.migrate import migrate

VARIANT = """
ALTER TABLE public.budgets ALTER COLUMN monthly_limit TYPE integer, ALTER COLUMN alert_threshold TYPE integer;
ALTER TABLE public.expenses ALTER COLUMN amount TYPE numeric(10, 2), ALTER COLUMN date TYPE timestamptz;
ALTER TABLE public.fuel_log ALTER COLUMN odometer TYPE integer, ALTER COLUMN volume TYPE real;
ALTER TABLE public.maintenance_records ALTER COLUMN next_due_date TYPE timestamptz, ALTER COLUMN task TYPE varchar(200);
ALTER TABLE public.pam_analytics_logs ALTER COLUMN response_time_ms TYPE bigint, ALTER COLUMN intent TYPE varchar(80);
ALTER TABLE public.user_settings ALTER COLUMN regional_preferences DROP DEFAULT,
    ALTER COLUMN notification_preferences DROP DEFAULT;
"""


@pytest.fixture(scope="module")
def variant():
    with supabase_support.server() as instance:
        with psycopg.connect(instance.owner_url, autocommit=True) as conn:
            conn.execute(VARIANT)
        yield instance


def test_other_column_types_meet_the_contract_and_the_jobs_run(variant):
    assert migrate(variant.owner_url, "supabase-wheels")
    check = run_cli("source", "check", "--json", env={"DATABASE_URL": variant.owner_url})
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["violations"] == 0
    ana = variant.sign_up("ana@example.com", "Ana")
    with psycopg.connect(variant.owner_url, autocommit=True) as conn:
        conn.execute("INSERT INTO public.user_settings (user_id) VALUES (%s)", [ana])  # no preferences at all
        conn.execute("INSERT INTO public.budgets (user_id, category, monthly_limit) VALUES (%s, 'Fuel', 100)", [ana])
        conn.execute("INSERT INTO public.expenses (user_id, category, amount, date)"
                     " VALUES (%s, 'Fuel', 120, '2026-11-10T23:30Z')", [ana])
        conn.execute("INSERT INTO public.maintenance_records (user_id, task, next_due_date)"
                     " VALUES (%s, 'Oil change', '2026-11-22T00:00Z')", [ana])
        for job in ("budget_alerts", "maintenance_reminders", "daily_digest"):
            result = conn.execute(f"SELECT wheels.{job}('2026-11-20T12:00Z')").fetchone()[0]
            assert result.startswith(f"{job}: 1 "), result
