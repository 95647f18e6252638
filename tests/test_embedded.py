"""The embedded cluster through the CLI: db start / status / url / stop, and migrate with local pg_cron."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.conftest import run_cli


@pytest.fixture
def pgdata():
    parent = Path(tempfile.mkdtemp(prefix="wheels-test-embedded-"))
    parent.chmod(0o755)
    data_dir = parent / "pgdata"
    yield {"WHEELS_PGDATA": str(data_dir)}
    run_cli("db", "stop", env={"WHEELS_PGDATA": str(data_dir)})
    shutil.rmtree(parent, ignore_errors=True)


def test_db_lifecycle_and_migrate_with_pg_cron_in_the_app_database(pgdata):
    status = run_cli("db", "status", "--json", env=pgdata)
    assert status.returncode == 1
    assert json.loads(status.stdout) == {
        "data_dir": pgdata["WHEELS_PGDATA"], "initialized": False, "running": False, "url": None,
    }

    started = run_cli("db", "start", env=pgdata)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    assert url.startswith("postgresql://postgres@127.0.0.1:") and url.endswith("/wheels")
    assert run_cli("db", "url", env=pgdata).stdout.strip() == url
    assert run_cli("db", "status", env=pgdata).returncode == 0

    # No DATABASE_URL: migrate uses the embedded cluster, where pg_cron lives in `wheels` itself.
    migrated = run_cli("migrate", env=pgdata)
    assert migrated.returncode == 0, migrated.stderr
    assert "pg_cron: created the extension in database wheels" in migrated.stdout
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_setting('cron.database_name')").fetchone() == ("wheels",)
        names = [name for (name,) in conn.execute("SELECT jobname FROM cron.job")]
        # Local pg_cron: job names carry the prefix but no database name.
        assert all(name.startswith("wheels:") and name.count(":") == 1 for name in names)
        assert conn.execute("SELECT to_regclass('pgmq.q_email_intents') IS NOT NULL").fetchone() == (True,)

    stopped = run_cli("db", "stop", env=pgdata)
    assert stopped.returncode == 0, stopped.stderr
    status = json.loads(run_cli("db", "status", "--json", env=pgdata).stdout)
    assert status["initialized"] and not status["running"]
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)

    # Started on demand by a command that needs it, with the data kept.
    again = run_cli("migrate", env=pgdata)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "nothing to do: the database is up to date"
