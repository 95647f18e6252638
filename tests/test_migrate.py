"""`cli.py migrate` against real databases: from empty, twice, concurrently, rollback, errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.conftest import FAST_SETTINGS, new_cluster, remove_cluster, run_cli
from wheels_core.errors import MigrationError
from wheels_jobs.migrate import migrate, migration_status, rollback_last, schedules

REQUIRED_TABLES = {
    "public.profiles", "public.email_preferences", "public.budget_categories", "public.expenses",
    "public.vehicles", "public.fuel_logs", "public.maintenance_records", "public.pam_analytics_logs",
    "public.analytics_summary", "public.analytics_daily",
    "wheels.settings", "wheels.email_ledger", "wheels.deliveries", "wheels.dead_letters", "wheels.suppressions",
}


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname IN ('public', 'wheels')"
        ).fetchall()
    return {name for (name,) in rows}


def cron_jobs(server, dbname: str) -> dict[str, str]:
    with psycopg.connect(server.url("postgres")) as conn:
        rows = conn.execute("SELECT jobname, schedule FROM cron.job WHERE database = %s", [dbname]).fetchall()
    return dict(rows)


def test_migrate_creates_schema_queue_and_schedules_in_another_database(empty_db_url, pg_server):
    result = run_cli("migrate", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 0, result.stderr
    assert "pgmq: installed the SQL-only pgmq 1.13.0" in result.stdout
    assert "migration 0001_schema: applied" in result.stdout
    assert REQUIRED_TABLES <= tables(empty_db_url)
    with psycopg.connect(empty_db_url) as conn:
        queues = {name for (name,) in conn.execute("SELECT queue_name FROM pgmq.meta")}
    assert queues == {"email_intents"}
    # pg_cron lives in `postgres`: jobs are named after the target database.
    expected = {f"wheels:wheels_empty:{s.job}": s.schedule for s in schedules()}
    assert cron_jobs(pg_server, "wheels_empty") == expected


def test_second_migrate_changes_nothing(empty_db_url):
    assert migrate(empty_db_url)
    assert migrate(empty_db_url) == []
    result = run_cli("migrate", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 0
    assert result.stdout.strip() == "nothing to do: the database is up to date"


def test_concurrent_migrates_apply_everything_once(empty_db_url):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: migrate(empty_db_url), range(4)))
    applied = [line for changes in results for line in changes if line.startswith("migration ")]
    assert len(applied) == len(migration_status(empty_db_url))
    assert all(state for _, state in migration_status(empty_db_url))
    assert REQUIRED_TABLES <= tables(empty_db_url)


def test_list_shows_pending_then_applied(empty_db_url):
    before = run_cli("migrate", "--list", env={"DATABASE_URL": empty_db_url})
    assert before.returncode == 0, before.stderr
    assert "pending" in before.stdout and "applied" not in before.stdout
    migrate(empty_db_url)
    after = run_cli("migrate", "--list", env={"DATABASE_URL": empty_db_url})
    assert "applied" in after.stdout and "pending" not in after.stdout


def test_rollback_of_the_last_migration_then_reapply(db_url):
    newest = migration_status(db_url)[-1][0]
    assert rollback_last(db_url) == newest
    assert migration_status(db_url)[-1] == (newest, False)
    if newest == "0001_schema":
        assert not REQUIRED_TABLES & tables(db_url)
    assert f"migration {newest}: applied" in migrate(db_url)
    assert REQUIRED_TABLES <= tables(db_url)


def test_a_removed_schedule_file_is_unscheduled_and_others_are_untouched(empty_db_url, pg_server, monkeypatch, tmp_path):
    migrate(empty_db_url)
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute("SELECT cron.schedule_in_database('someone-elses-job', '0 4 * * *', 'SELECT 1', 'wheels_empty')")
    cron_dir = tmp_path / "cron"
    cron_dir.mkdir()
    (cron_dir / "only_one.sql").write_text("-- A probe.\n-- schedule: 0 5 * * *\nSELECT 1;\n")
    monkeypatch.setattr("wheels_jobs.migrate.CRON_DIR", cron_dir)
    changes = migrate(empty_db_url)
    assert "cron wheels:wheels_empty:only_one: scheduled '0 5 * * *'" in changes
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


def test_pg_cron_not_preloaded_is_a_clear_error(server_without_pg_cron):
    with pytest.raises(MigrationError, match="pg_cron is not preloaded on this server: add shared_preload_libraries"):
        migrate(server_without_pg_cron.url())
    result = run_cli("migrate", env={"DATABASE_URL": server_without_pg_cron.url()})
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "restart PostgreSQL" in result.stderr
