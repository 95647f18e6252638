"""Test harness: one real PostgreSQL server (pg_cron preloaded, pgmq installed) per session.

The server is this project's own embedded cluster in a temporary folder, with
pg_cron living in the `postgres` database, so every test database is one where
"pg_cron lives in another database" and schedules go through
cron.schedule_in_database. A migrated template (no schedules: pg_cron must never
connect to a template) is built once; each test gets `CREATE DATABASE ... TEMPLATE`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql import factories
from pytest_postgresql.janitor import DatabaseJanitor

from tests import clock
from wheels_jobs.embedded import PROJECT_ROOT, SUPERUSER, Cluster
from wheels_jobs.migrate import migrate

# Durability is not under test; these make CREATE DATABASE and commits cheap.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclass
class Server:
    """What pytest-postgresql's noproc factory reads from the fixture it depends on."""

    cluster: Cluster
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    password: str | None = None
    options: str = ""
    maintenance_dbname: str = "postgres"
    template_dbname: str | None = None

    @property
    def port(self) -> int:
        return self.cluster.port

    def url(self, dbname: str) -> str:
        return self.cluster.url(dbname)


def new_cluster(**kwargs) -> Cluster:
    """A cluster in a fresh folder under /tmp (reachable by the server's OS user when root)."""
    return Cluster(Path(tempfile.mkdtemp(prefix="wheels-test-pg-")) / "data", **kwargs)


def remove_cluster(cluster: Cluster) -> None:
    cluster.stop()
    shutil.rmtree(cluster.data_dir.parent, ignore_errors=True)


@contextmanager
def own_server(**settings: str) -> Iterator[tuple[Cluster, str]]:
    """A server of the test's own (to stop, start or configure it), its app database migrated
    with the demo source and no schedules; removed afterwards. Yields (cluster, url)."""
    cluster = new_cluster(database="wheels", settings={**FAST_SETTINGS, **settings})
    cluster.data_dir.parent.chmod(0o755)
    try:
        url = cluster.ensure_running()
        migrate(url, "demo", schedule_jobs=False)
        yield cluster, url
    finally:
        remove_cluster(cluster)


def check_clocks(url: str) -> None:
    """The server and the tests agree on the time; in a shifted run (tests/clock.py) both
    really are at the chosen instant, so a test that passes there proves something."""
    with psycopg.connect(url) as conn:
        server_now = conn.execute("SELECT now()").fetchone()[0]
    here_now = datetime.now(timezone.utc)
    assert abs(server_now - here_now) < timedelta(minutes=1), f"server clock {server_now}, tests' clock {here_now}"
    if os.environ.get(clock.AT_VARIABLE):
        instant = clock.parse_instant(os.environ[clock.AT_VARIABLE])
        assert timedelta(0) <= here_now - instant < timedelta(hours=1), f"not shifted to {instant}: now is {here_now}"


@pytest.fixture(scope="session")
def pg_server():
    cluster = new_cluster(database="postgres", settings=FAST_SETTINGS)
    cluster.data_dir.parent.chmod(0o755)
    check_clocks(cluster.ensure_running())
    yield Server(cluster)
    remove_cluster(cluster)


def _load_schema(host, port, user, dbname, password=None, **_):
    migrate(f"postgresql://{user}@{host}:{port}/{dbname}", "demo", schedule_jobs=False)


migrated_template = factories.postgresql_noproc(depends_on="pg_server", dbname="wheels_test", load=[_load_schema])
migrated_db = factories.postgresql("migrated_template")


def drop_cron_jobs(server: Server, dbname: str) -> None:
    """pg_cron keeps jobs of a dropped database; remove the ones a test scheduled."""
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute("DELETE FROM cron.job WHERE database = %s", [dbname])


@pytest.fixture
def db_url(migrated_db, pg_server):
    """URL of a fresh, fully migrated database (no schedules) for this test."""
    dbname = migrated_db.info.dbname
    yield pg_server.url(dbname)
    drop_cron_jobs(pg_server, dbname)


@pytest.fixture
def empty_db_url(pg_server):
    """URL of a fresh empty database, for tests of migrate itself."""
    dbname = "wheels_empty"
    janitor = DatabaseJanitor(user=pg_server.user, host=pg_server.host, port=pg_server.port, dbname=dbname)
    janitor.drop()
    with janitor:
        yield pg_server.url(dbname)
        drop_cron_jobs(pg_server, dbname)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python cli.py ARGS` as an operator would, with a clean environment plus `env`."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RESEND_API_KEY", "WHEELS_PGDATA")}
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
    )


@pytest.fixture
def resend_stub():
    """A started Resend stand-in (tests/resend_stub.py) on 127.0.0.1; stopped afterwards."""
    from tests.resend_stub import ResendStub

    with ResendStub() as stub:
        yield stub
