"""`cli.py migrate`: bring one database up to date, idempotently, and say what changed.

Order: pg_cron, pgmq, yoyo migrations (sql/), job functions (sql/functions/),
schedules (sql/cron/). Concurrent runs on one database are serialised by an
advisory lock; a second run reports nothing to do.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from pgmq.install import install_pgmq_from_sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from yoyo import get_backend, read_migrations

from wheels_core import db, queries
from wheels_jobs.embedded import PROJECT_ROOT
from wheels_core.errors import DatabaseUnavailable, MigrationError

SQL_DIR = PROJECT_ROOT / "sql"
FUNCTIONS_DIR = SQL_DIR / "functions"
CRON_DIR = SQL_DIR / "cron"
JOB_PREFIX = "wheels:"
_SCHEDULE_LINE = re.compile(r"^--\s*schedule:\s*(.+?)\s*$", re.M)

Q = queries.load("wheels_jobs")


@dataclass(frozen=True)
class CronTarget:
    """Where schedules are written: pg_cron's database, for jobs that run in ours."""

    url: str  # a URL for pg_cron's database
    database: str  # the database the jobs run in
    local: bool  # pg_cron lives in the database being migrated

    @property
    def prefix(self) -> str:
        """Job-name prefix: ours only, and per database where pg_cron serves several."""
        return JOB_PREFIX if self.local else f"{JOB_PREFIX}{self.database}:"

    def jobname(self, job: str) -> str:
        return self.prefix + job


@dataclass(frozen=True)
class Schedule:
    """One file of sql/cron/: a job name (the file stem), a cron expression, a command."""

    job: str
    schedule: str
    command: str

    @classmethod
    def from_file(cls, path: Path) -> Schedule:
        text = path.read_text()
        found = _SCHEDULE_LINE.search(text)
        if not found:
            raise MigrationError(f"{path.name}: no '-- schedule: <cron expression>' line")
        command = "\n".join(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("--"))
        if not command:
            raise MigrationError(f"{path.name}: no command")
        return cls(job=path.stem, schedule=found.group(1), command=command)


def schedules() -> list[Schedule]:
    return [Schedule.from_file(p) for p in sorted(CRON_DIR.glob("*.sql"))]


def migrate(url: str, *, schedule_jobs: bool = True) -> list[str]:
    """Apply everything that is missing; return one line per change (empty: nothing to do)."""
    changes: list[str] = []
    with db.connect(url) as conn:
        conn.execute(Q["migrate_lock"])
        conn.commit()
        try:
            target = ensure_pg_cron(conn, url, changes)
            ensure_pgmq(conn, changes)
            apply_migrations(url, changes)
            apply_functions(conn, changes)
            if schedule_jobs:
                apply_schedules(target, changes)
        finally:
            conn.rollback()
            conn.execute(Q["migrate_unlock"])
            conn.commit()
    return changes


def cron_target(conn: psycopg.Connection, url: str) -> CronTarget:
    """Where pg_cron lives for this database, or a clear error when it is not preloaded."""
    row = conn.execute(Q["preloaded_libraries"]).fetchone()
    libraries, cron_database, database = row
    if "pg_cron" not in [lib.strip() for lib in libraries.split(",")] or not cron_database:
        raise MigrationError(
            "pg_cron is not preloaded on this server: add shared_preload_libraries = 'pg_cron' "
            f"and cron.database_name = '{database}' to postgresql.conf, then restart PostgreSQL"
        )
    local = cron_database == database
    return CronTarget(url=url if local else db.with_database(url, cron_database), database=database, local=local)


def ensure_pg_cron(conn: psycopg.Connection, url: str, changes: list[str]) -> CronTarget:
    target = cron_target(conn, url)
    with db.connect(target.url, autocommit=True) as cron_conn:
        installed, _ = cron_conn.execute(Q["has_extension"], {"name": "pg_cron"}).fetchone()
        if not installed:
            cron_conn.execute(Q["create_pg_cron"])
            changes.append(f"pg_cron: created the extension in database {conninfo_to_dict(target.url)['dbname']}")
    return target


def ensure_pgmq(conn: psycopg.Connection, changes: list[str]) -> None:
    """CREATE EXTENSION where the server offers pgmq, else the SQL-only install, once."""
    if conn.execute(Q["pgmq_installed"]).fetchone()[0]:
        return
    _, available = conn.execute(Q["has_extension"], {"name": "pgmq"}).fetchone()
    if available:
        conn.execute(Q["create_pgmq"])
        conn.commit()
        changes.append("pgmq: created the extension")
    else:
        version = install_pgmq_from_sql(conn=conn)
        conn.commit()
        changes.append(f"pgmq: installed the SQL-only pgmq {version}")


@contextmanager
def yoyo_backend(url: str):
    """yoyo speaks URLs only: give it psycopg 3 and the same connection parameters; close it after."""
    params = conninfo_to_dict(url)
    params.setdefault("connect_timeout", str(db.CONNECT_TIMEOUT_S))
    dbname = params.pop("dbname", "")
    user = params.pop("user", "")
    password = params.pop("password", "")
    host = params.pop("host", "")
    port = params.pop("port", "")
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    netloc = f"{auth}@" if auth else ""
    if host and not host.startswith("/"):
        netloc += host + (f":{port}" if port else "")
    elif host:
        params["host"] = host
        if port:
            params["port"] = port
    query = f"?{urlencode(params)}" if params else ""
    try:
        backend = get_backend(f"postgresql+psycopg://{netloc}/{quote(dbname, safe='')}{query}")
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot reach the database at {db.describe(url)}") from exc
    try:
        yield backend
    finally:
        backend.connection.close()


def migration_list():
    return read_migrations(str(SQL_DIR))


def apply_migrations(url: str, changes: list[str]) -> None:
    migrations = migration_list()
    with yoyo_backend(url) as backend, backend.lock():
        pending = backend.to_apply(migrations)
        try:
            backend.apply_migrations(pending)
        except psycopg.Error as exc:
            raise MigrationError("a migration failed") from exc
    changes.extend(f"migration {m.id}: applied" for m in pending)


def migration_status(url: str) -> list[tuple[str, bool]]:
    """(id, applied) for every migration in sql/, in order."""
    with yoyo_backend(url) as backend:
        return [(m.id, backend.is_applied(m)) for m in migration_list()]


def rollback_last(url: str) -> str | None:
    """Roll back the newest applied migration; return its id (None: nothing applied)."""
    with yoyo_backend(url) as backend, backend.lock():
        applied = backend.to_rollback(migration_list())
        if not applied:
            return None
        last = applied[:1]
        backend.rollback_migrations(last)
    return last[0].id


def apply_functions(conn: psycopg.Connection, changes: list[str]) -> None:
    """Re-apply every sql/functions/ file (CREATE OR REPLACE); report the functions that changed."""
    before = dict(conn.execute(Q["function_fingerprints"]).fetchall())
    for path in sorted(FUNCTIONS_DIR.glob("*.sql")):
        try:
            conn.execute(path.read_text())
        except psycopg.Error as exc:
            raise MigrationError(f"sql/functions/{path.name} failed") from exc
    conn.commit()
    after = dict(conn.execute(Q["function_fingerprints"]).fetchall())
    for name, digest in sorted(after.items()):
        if name not in before:
            changes.append(f"function {name}: created")
        elif before[name] != digest:
            changes.append(f"function {name}: updated")


def apply_schedules(target: CronTarget, changes: list[str]) -> None:
    """Make pg_cron's jobs for this database match sql/cron/ exactly (ours only, by prefix)."""
    wanted = {target.jobname(s.job): s for s in schedules()}
    with db.connect(target.url, autocommit=True, row_factory=dict_row) as cron:
        existing = {job["jobname"]: job for job in cron.execute(Q["cron_jobs"], {"database": target.database, "prefix": target.prefix})}
        for jobname, s in wanted.items():
            job = existing.get(jobname)
            if job and (job["schedule"], job["command"]) == (s.schedule, s.command):
                continue
            query = Q["cron_schedule"] if target.local else Q["cron_schedule_in_database"]
            cron.execute(query, {"jobname": jobname, "schedule": s.schedule, "command": s.command, "database": target.database})
            changes.append(f"cron {jobname}: {'rescheduled' if job else 'scheduled'} '{s.schedule}'")
        for jobname, job in existing.items():
            if jobname not in wanted:
                cron.execute(Q["cron_unschedule"], {"jobid": job["jobid"]})
                changes.append(f"cron {jobname}: unscheduled (its file is gone)")


def unschedule_all(url: str) -> None:
    """Remove every job migrate scheduled for this database (rollback path, and test clean-up)."""
    with db.connect(url) as conn:
        target = cron_target(conn, url)
    with db.connect(target.url, autocommit=True, row_factory=dict_row) as cron:
        for job in cron.execute(Q["cron_jobs"], {"database": target.database, "prefix": target.prefix}).fetchall():
            cron.execute(Q["cron_unschedule"], {"jobid": job["jobid"]})
