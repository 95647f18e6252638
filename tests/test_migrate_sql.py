"""`cli.py migrate --sql`: the install as one SQL file, applied with `psql -f` by
the non-superuser owner of a Supabase-shaped database, gives the same catalog
as `migrate`, applying it twice changes nothing, `migrate` afterwards finds
nothing to do, and `--sql --rollback` restores the database as it was."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from tests import supabase_support
from tests.conftest import run_cli
from wheels_jobs.migrate import migrate, rollback

SOURCE = "supabase-wheels"


@pytest.fixture(scope="module")
def supabase():
    with supabase_support.server() as instance:
        yield instance


def script(tmp_path, *args: str):
    result = run_cli("migrate", "--sql", "--source", SOURCE, *args)
    assert result.returncode == 0, result.stderr
    path = tmp_path / ("rollback.sql" if args else "install.sql")
    path.write_text(result.stdout)
    return path


def psql(url: str, path) -> None:
    done = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(path), url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def everything(supabase) -> dict:
    return supabase_support.catalog(supabase.admin_url, supabase_support.ALL_SCHEMAS)


def test_the_sql_file_installs_what_migrate_installs_and_rolls_back_to_nothing(supabase, tmp_path):
    install, remove = script(tmp_path), script(tmp_path, "--rollback")
    assert "\\" not in "".join(line[:1] for line in install.read_text().splitlines())  # no psql meta-commands
    pristine = everything(supabase)

    migrate(supabase.owner_url, SOURCE)
    by_migrate = everything(supabase)
    assert rollback(supabase.owner_url)
    assert everything(supabase) == pristine

    psql(supabase.owner_url, install)
    by_sql = everything(supabase)
    assert by_sql == by_migrate
    with psycopg.connect(supabase.owner_url) as conn:  # the budget state was summed, as migrate sums it
        assert conn.execute("SELECT rebuilt_at IS NOT NULL FROM wheels.budget_state").fetchone() == (True,)
    psql(supabase.owner_url, install)  # twice: nothing changes
    assert everything(supabase) == by_migrate
    assert migrate(supabase.owner_url) == []  # migrate reads the same bookkeeping

    psql(supabase.owner_url, remove)
    assert everything(supabase) == pristine
    psql(supabase.owner_url, remove)  # and the rollback file twice too
    assert everything(supabase) == pristine


def test_the_demo_script_refuses_a_database_holding_another_source(supabase, tmp_path):
    migrate(supabase.owner_url, SOURCE)
    try:
        demo = run_cli("migrate", "--sql", "--source", "demo")
        path = tmp_path / "demo.sql"
        path.write_text(demo.stdout)
        done = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(path), supabase.owner_url],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode != 0 and "another source is installed here" in done.stderr
    finally:
        rollback(supabase.owner_url)
