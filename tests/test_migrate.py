"""`cli.py migrate` against real databases: from empty, twice, concurrently, the
source it remembers, full rollback, stale overloads, and one-line errors that
name what failed. (A Supabase-shaped database: tests/test_supabase.py.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.conftest import FAST_SETTINGS, new_cluster, remove_cluster, run_cli
from wheels_core.errors import MigrationError
from wheels_jobs.migrate import migrate, migration_status, rollback, schedules

DEMO_TABLES = {
    "public.profiles", "public.email_preferences", "public.budget_categories", "public.expenses",
    "public.vehicles", "public.fuel_logs", "public.maintenance_records", "public.pam_analytics_logs",
}
OUR_TABLES = {
    "wheels.settings", "wheels.email_ledger", "wheels.deliveries", "wheels.dead_letters", "wheels.suppressions",
    "wheels.pam_hourly", "wheels.pam_daily", "wheels.job_runs", "wheels.jobs",
}


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            " AND schemaname NOT IN ('pgmq', 'cron')"
        ).fetchall()
    return {name for (name,) in rows}


def schemas(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {n for (n,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'"
                                           " AND nspname <> 'information_schema'")}


def cron_jobs(server, dbname: str) -> dict[str, str]:
    with psycopg.connect(server.url("postgres")) as conn:
        rows = conn.execute("SELECT jobname, schedule FROM cron.job WHERE database = %s", [dbname]).fetchall()
    return dict(rows)


def test_migrate_creates_schema_queue_source_and_schedules_in_another_database(empty_db_url, pg_server):
    result = run_cli("migrate", "--source", "demo", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 0, result.stderr
    assert "pgmq: installed the SQL-only pgmq 1.13.0" in result.stdout
    assert "migration 0001_wheels: applied" in result.stdout and "source demo: installed" in result.stdout
    assert DEMO_TABLES | OUR_TABLES <= tables(empty_db_url)
    # yoyo's bookkeeping lives in a schema of ours, never in public.
    assert not {t for t in tables(empty_db_url) if "yoyo" in t and not t.startswith("wheels_migrations.")}
    assert {"wheels", "wheels_source", "wheels_migrations"} <= schemas(empty_db_url)
    with psycopg.connect(empty_db_url) as conn:
        queues = {name for (name,) in conn.execute("SELECT queue_name FROM pgmq.meta")}
        catalogued = {job for (job,) in conn.execute("SELECT job FROM wheels.jobs")}
    assert queues == {"email_intents"} and catalogued == {s.job for s in schedules()}
    # pg_cron lives in `postgres`: jobs are named after the target database.
    expected = {f"wheels:wheels_empty:{s.job}": s.schedule for s in schedules()}
    assert cron_jobs(pg_server, "wheels_empty") == expected


def test_second_migrate_changes_nothing_and_remembers_the_source(empty_db_url):
    assert migrate(empty_db_url, "demo")
    assert migrate(empty_db_url, "demo") == []
    assert migrate(empty_db_url) == []
    result = run_cli("migrate", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 0
    assert result.stdout.strip() == "nothing to do: the database is up to date"


def test_a_database_without_a_source_is_refused_before_anything_is_installed(empty_db_url):
    result = run_cli("migrate", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 1
    assert result.stderr == ("error: this database has no source installed: pass --source demo, --source "
                             "supabase-wheels or --source FOLDER (docs/ADOPTING.md says which)\n")
    assert schemas(empty_db_url) == {"public"} and tables(empty_db_url) == set()
    unknown = run_cli("migrate", "--source", "nope", env={"DATABASE_URL": empty_db_url})
    assert unknown.returncode == 1 and "no source 'nope': give one of demo, supabase-wheels" in unknown.stderr


def test_another_source_than_the_installed_one_is_refused(db_url):
    with pytest.raises(MigrationError, match="source 'demo' is installed here, not 'supabase-wheels'"):
        migrate(db_url, "supabase-wheels")


def test_concurrent_migrates_apply_everything_once(empty_db_url):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: migrate(empty_db_url, "demo"), range(4)))
    applied = [line for changes in results for line in changes if line.startswith("migration ")]
    assert len(applied) == len(migration_status(empty_db_url))
    assert sum(line == "source demo: installed" for changes in results for line in changes) == 1
    assert all(state for _, state in migration_status(empty_db_url))
    assert DEMO_TABLES | OUR_TABLES <= tables(empty_db_url)


def test_list_shows_pending_then_applied(empty_db_url):
    before = run_cli("migrate", "--list", env={"DATABASE_URL": empty_db_url})
    assert before.returncode == 0, before.stderr
    assert "pending" in before.stdout and "applied" not in before.stdout
    migrate(empty_db_url, "demo")
    after = run_cli("migrate", "--list", env={"DATABASE_URL": empty_db_url})
    assert "applied" in after.stdout and "pending" not in after.stdout


def test_rollback_removes_everything_of_ours_and_migrate_installs_it_again(empty_db_url, pg_server):
    before = (schemas(empty_db_url), tables(empty_db_url))
    migrate(empty_db_url, "demo")
    result = run_cli("migrate", "--rollback", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "source demo: removed" in lines and "migration 0001_wheels: rolled back" in lines
    assert lines.index("source demo: removed") < lines.index("migration 0001_wheels: rolled back")
    # pgmq stays (the platform may own it); nothing else of ours does.
    assert (schemas(empty_db_url) - {"pgmq"}, tables(empty_db_url)) == before
    assert cron_jobs(pg_server, "wheels_empty") == {}
    assert rollback(empty_db_url) == []
    assert "migration 0005_source_contract: applied" in migrate(empty_db_url, "demo")
    assert DEMO_TABLES | OUR_TABLES <= tables(empty_db_url)


def test_a_failing_migration_is_named_in_one_line_and_nothing_after_it_runs(empty_db_url):
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA wheels")  # somebody else's, in the way of 0001_wheels
    result = run_cli("migrate", "--source", "demo", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith('error: migration 0001_wheels failed: schema "wheels" already exists')
    assert not any(applied for _, applied in migration_status(empty_db_url))


def test_a_database_from_before_the_source_contract_is_refused(empty_db_url):
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA wheels; CREATE TABLE wheels.settings (name text)")
    result = run_cli("migrate", "--source", "demo", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 1
    assert result.stderr.startswith("error: this database has wheels-jobs from before the source contract")


def test_a_stale_overload_of_our_function_is_dropped(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        # What an older release left: budget_alerts with another signature beside today's.
        conn.execute("CREATE FUNCTION wheels.budget_alerts(as_of timestamptz, extra int) RETURNS text"
                     " LANGUAGE sql AS $$ SELECT 'old' $$")
    assert "function wheels.budget_alerts(timestamp with time zone,integer): dropped (a stale overload)" in migrate(db_url)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_proc WHERE proname = 'budget_alerts'").fetchone()[0] == 1


def test_the_activation_guides_checks_work_unchanged(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO pam_analytics_logs (created_at, event_type, response_time_ms, success)"
                     " SELECT '2026-11-29T10:00Z'::timestamptz + i * interval '1 minute', 'response', 100, true"
                     " FROM generate_series(1, 120) i")
        conn.execute("SELECT wheels.analytics_hourly(as_of => '2026-11-30T12:00Z')")
        conn.execute("SELECT wheels.analytics_daily(as_of => '2026-11-30T12:00Z')")
        hourly = conn.execute("SELECT * FROM analytics_summary WHERE period = 'hourly' ORDER BY timestamp DESC LIMIT 10").fetchall()
        daily = conn.execute("SELECT * FROM analytics_daily ORDER BY date DESC LIMIT 7").fetchall()
    assert [row[2] for row in hourly] == [0, 0, 0]  # messages; three hours of responses
    assert [str(row[0]) for row in daily] == ["2026-11-29"] and daily[0][2] == 120


def test_a_removed_schedule_file_is_unscheduled_and_others_are_untouched(empty_db_url, pg_server, monkeypatch, tmp_path):
    migrate(empty_db_url, "demo")
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute("SELECT cron.schedule_in_database('someone-elses-job', '0 4 * * *', 'SELECT 1', 'wheels_empty')")
    cron_dir = tmp_path / "cron"
    cron_dir.mkdir()
    (cron_dir / "only_one.sql").write_text("-- A probe.\n-- time limit: 1 min\n-- schedule: 0 5 * * *\nSELECT 1;\n")
    monkeypatch.setattr("wheels_jobs.migrate.CRON_DIR", cron_dir)
    changes = migrate(empty_db_url)
    assert "cron wheels:wheels_empty:only_one: scheduled '0 5 * * *'" in changes
    assert "job budget_alerts: removed" in changes and "job only_one: registered" in changes
    assert cron_jobs(pg_server, "wheels_empty") == {
        "wheels:wheels_empty:only_one": "0 5 * * *",
        "someone-elses-job": "0 4 * * *",
    }


def test_bad_database_url_is_one_line_and_exit_1():
    result = run_cli("migrate", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"})
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot reach the database at 127.0.0.1:1/x")
    assert "Traceback" not in result.stderr


def test_malformed_database_url_is_a_config_error():
    result = run_cli("migrate", "--database-url", "postgresql://[broken")
    assert result.returncode == 1
    assert result.stderr.startswith("error: DATABASE_URL is not a valid PostgreSQL URL")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def server_without_pg_cron():
    cluster = new_cluster(database="wheels", settings={**FAST_SETTINGS, "shared_preload_libraries": "''"})
    cluster.data_dir.parent.chmod(0o755)
    cluster.ensure_running()
    yield cluster
    remove_cluster(cluster)


def test_pg_cron_not_preloaded_is_a_clear_error_and_nothing_is_installed(server_without_pg_cron):
    with pytest.raises(MigrationError, match="pg_cron is not preloaded on this server: add shared_preload_libraries"):
        migrate(server_without_pg_cron.url(), "demo")
    result = run_cli("migrate", "--source", "demo", env={"DATABASE_URL": server_without_pg_cron.url()})
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "restart PostgreSQL" in result.stderr
    assert schemas(server_without_pg_cron.url()) == {"public"}
