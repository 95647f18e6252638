"""docs/scaling_supabase_pam_log.sql, the recipe docs/SCALING.md gives the app for
partitioning its own PAM log on Supabase, run on the Supabase-shaped database with
wheels-jobs installed: the log keeps its rows and takes new ones, the PAM event
feed follows the partitioned log, cleanup leaves the log's retention to the app,
`source check` finds nothing wrong, and the API roles read no partition."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from tests import supabase_support
from wheels_jobs import source
from tests.conftest import run_cli
from tests.test_partitions import executed_partitions
from wheels_jobs.embedded import PROJECT_ROOT
from wheels_jobs.migrate import migrate

RECIPE = PROJECT_ROOT / "docs" / "scaling_supabase_pam_log.sql"


@pytest.fixture(scope="module")
def supabase():
    with supabase_support.server() as instance:
        migrate(instance.owner_url, "supabase-wheels", schedule_jobs=False)
        yield instance


def hourly_rollup_advice(url: str) -> list[str]:
    return [f.subject for f in source.check(url).findings
            if f.severity == "advice" and f.problem.startswith("the hourly PAM rollup")]


def test_the_apps_log_partitioned_by_the_recipe_serves_the_jobs(supabase, monkeypatch):
    monkeypatch.setattr(source, "SCAN_ADVICE_MIN_ROWS", 1000)  # the fixture's log is small
    with psycopg.connect(supabase.owner_url, autocommit=True) as conn:
        conn.execute("INSERT INTO public.pam_analytics_logs (event_type, response_time_ms, created_at)"
                     " SELECT 'pam_response', 100, now() - i * interval '1 minute' FROM generate_series(0, 2999) i")
        conn.execute("ANALYZE public.pam_analytics_logs")
    # Unpartitioned, with no index on its time column, but the rollups read the feed (indexed, by day):
    # source check has no index to ask of the app for them.
    assert hourly_rollup_advice(supabase.owner_url) == []
    with psycopg.connect(supabase.owner_url, autocommit=True) as conn:
        step_1, step_2 = RECIPE.read_text().split("-- step 2: one short transaction.")
        for statement in step_1.split(";\n")[:-1]:  # one by one: CONCURRENTLY refuses a transaction
            conn.execute(statement)
        conn.execute(step_2)
    # The contract's views still read the table they were made over (now the DEFAULT partition).
    reinstalled = run_cli("migrate", "--reinstall-source", env={"DATABASE_URL": supabase.owner_url})
    assert reinstalled.returncode == 0 and "source supabase-wheels: updated" in reinstalled.stdout, reinstalled.stderr
    with psycopg.connect(supabase.owner_url, autocommit=True) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'public.pam_analytics_logs'::regclass").fetchone()[0] == "p"
        tomorrow = datetime.now(timezone.utc).date() + timedelta(days=2)
        hour = datetime.combine(tomorrow, datetime.min.time(), timezone.utc) + timedelta(hours=3)
        conn.execute("INSERT INTO public.pam_analytics_logs (event_type, response_time_ms, created_at)"
                     " VALUES ('pam_response', 200, %s), ('user_message', NULL, %s)", [hour, hour])
        assert conn.execute("SELECT count(*), max(id) FROM public.pam_analytics_logs").fetchone() == (3002, 3002)
        # The reinstalled source's triggers sit on the partitioned log: its new rows reach the feed.
        conn.execute("SELECT wheels.partitions()")
        assert conn.execute("SELECT count(*) FROM wheels.pam_event_feed").fetchone()[0] == 3002
        conn.execute("SET jit = off")
        assert executed_partitions(conn, "SELECT * FROM wheels._pam_stats(%s, %s)",
                                   [hour, hour + timedelta(hours=1)]) == {f"pam_event_feed_p{tomorrow:%Y%m%d}"}
        result = conn.execute("CALL wheels.run_job('cleanup')").fetchone()[0]
        assert "pam_analytics_logs" not in result
    check = run_cli("source", "check", "--json", env={"DATABASE_URL": supabase.owner_url})
    assert check.returncode == 0 and json.loads(check.stdout)["violations"] == 0
    with psycopg.connect(supabase.owner_url, autocommit=True) as conn:
        conn.execute("ANALYZE public.pam_analytics_logs")
    assert hourly_rollup_advice(supabase.owner_url) == []
    for role in ("anon", "authenticated"):
        with supabase.as_role(role) as conn:
            assert conn.execute(f"SELECT count(*) AS n FROM public.pam_analytics_logs_p{tomorrow:%Y%m%d}").fetchone()["n"] == 0
