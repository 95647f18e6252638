"""`cli.py migrate`: bring one database up to date, idempotently, and say what changed.

Order: where pg_cron lives, pgmq, yoyo migrations (sql/), job functions
(sql/functions/), the source contract (sources/<name>/), the job catalogue and
schedules (sql/cron/). Nothing is installed before the checks that can refuse
(pg_cron missing, no source chosen) have passed. Concurrent runs on one
database are serialised by an advisory lock; a second run reports nothing to do.

A guest in somebody else's database (docs/ARCHITECTURE.md, invariant 9):
everything lands in our schemas (wheels, wheels_source, and yoyo's bookkeeping
in wheels_migrations); the only things attached to app objects are the
source's named triggers; `rollback` removes all of it but the roles and pgmq.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from pgmq.install import install_pgmq_from_sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row, tuple_row
from yoyo import get_backend, read_migrations

from wheels_core import db, queries
from wheels_core.errors import DatabaseUnavailable, MigrationError
from wheels_jobs.embedded import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "sql"
FUNCTIONS_DIR = SQL_DIR / "functions"
CRON_DIR = SQL_DIR / "cron"
SOURCES_DIR = PROJECT_ROOT / "sources"
# yoyo's own tables live here, not in the app's `public`.
MIGRATIONS_SCHEMA = "wheels_migrations"
JOB_PREFIX = "wheels:"
_SCHEDULE_LINE = re.compile(r"^--\s*schedule:\s*(.+?)\s*$", re.M)
_TIME_LIMIT_LINE = re.compile(r"^--\s*time limit:\s*(.+?)\s*$", re.M)
DEFINED_FUNCTION = re.compile(r"^CREATE OR REPLACE (?:FUNCTION|PROCEDURE) wheels\.(\w+)\s*\(", re.M)

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
    """One file of sql/cron/: a job name (the file stem), a cron expression, a time limit, a command."""

    job: str
    schedule: str
    time_limit: str
    command: str

    @classmethod
    def from_file(cls, path: Path) -> Schedule:
        text = path.read_text()
        found = {name: line.search(text) for name, line in (("schedule", _SCHEDULE_LINE),
                                                            ("time limit", _TIME_LIMIT_LINE))}
        for name, match in found.items():
            if not match:
                raise MigrationError(f"{path.name}: no '-- {name}: ...' line")
        command = "\n".join(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("--"))
        if not command:
            raise MigrationError(f"{path.name}: no command")
        return cls(job=path.stem, schedule=found["schedule"].group(1), time_limit=found["time limit"].group(1),
                   command=command)


def schedules() -> list[Schedule]:
    return [Schedule.from_file(p) for p in sorted(CRON_DIR.glob("*.sql"))]


@dataclass(frozen=True)
class Source:
    """A source contract: a folder with contract.sql, and optionally app.sql (the app's own
    tables, for a stand-in app like the demo) and uninstall.sql (what the rollback removes
    besides schema wheels_source)."""

    name: str  # what `migrate --source` was given and wheels.installed_source remembers
    folder: Path

    @classmethod
    def find(cls, name: str) -> Source:
        """A shipped source by name (sources/NAME/), or a folder of one."""
        folder = SOURCES_DIR / name if (SOURCES_DIR / name).is_dir() else Path(name).expanduser()
        if not (folder / "contract.sql").is_file():
            shipped = ", ".join(sorted(p.name for p in SOURCES_DIR.iterdir() if (p / "contract.sql").is_file()))
            raise MigrationError(f"no source {name!r}: give one of {shipped}, or a folder with a contract.sql")
        return cls(name=name if folder.parent == SOURCES_DIR else str(folder.resolve()), folder=folder)

    def sql(self, part: str) -> str | None:
        path = self.folder / f"{part}.sql"
        return path.read_text() if path.is_file() else None

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for part in ("app", "contract", "uninstall"):
            digest.update((self.sql(part) or "").encode() + b"\0")
        return digest.hexdigest()


# -- the run ----------------------------------------------------------------------


@contextmanager
def _migrate_lock(url: str):
    """One migrate (or rollback) at a time per database (pgmq's SQL install is not re-runnable)."""
    with db.connect(url) as conn:
        conn.execute(Q["migrate_lock"])
        conn.commit()
        try:
            yield conn
        finally:
            conn.rollback()
            conn.execute(Q["migrate_unlock"])
            conn.commit()


def migrate(url: str, source: str | None = None, *, schedule_jobs: bool = True,
            reinstall_source: bool = False) -> list[str]:
    """Apply everything that is missing; return one line per change (empty: nothing to do).

    `source` names the source contract (demo, supabase-wheels, a folder); None means
    the one this database already has, and migrate never guesses one. reinstall_source:
    install it afresh even if its files did not change (the app replaced a table the
    contract's views read: docs/SCALING.md).
    """
    changes: list[str] = []
    with _migrate_lock(url) as conn:
        refuse_old_layout(conn)
        chosen = choose_source(conn, source)
        target = ensure_pg_cron(conn, url, changes)
        ensure_pgmq(conn, changes)
        apply_migrations(conn, url, changes)
        apply_functions(conn, changes)
        apply_source(conn, chosen, changes, force=reinstall_source)
        apply_jobs(conn, changes)
        if schedule_jobs:
            apply_schedules(target, changes)
    return changes


def refuse_old_layout(conn: psycopg.Connection) -> None:
    """A database migrated before the source contract (yoyo's tables in public) is not upgraded in place."""
    if conn.execute(Q["old_layout"]).fetchone()[0]:
        raise MigrationError(
            "this database has wheels-jobs from before the source contract (its migrations are recorded in "
            "public._yoyo_migration): recreate it (embedded: `cli.py db stop && rm -rf .pgdata`)")


def choose_source(conn: psycopg.Connection, name: str | None) -> Source:
    """The source to install: the one named, else the one installed; a different one is refused."""
    installed = installed_source(conn)
    if name is None and installed is None:
        raise MigrationError("this database has no source installed: pass --source demo, --source supabase-wheels "
                             "or --source FOLDER (docs/ADOPTING.md says which)")
    source = Source.find(name or installed[0])
    if installed is not None and installed[0] != source.name:
        raise MigrationError(f"source {installed[0]!r} is installed here, not {source.name!r}: "
                             "`cli.py migrate --rollback` first to change it")
    return source


def installed_source(conn: psycopg.Connection) -> tuple[str, str] | None:
    """(name, fingerprint) of the source installed here; None when there is none (or no wheels-jobs)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        if not cur.execute(Q["has_installed_source_table"]).fetchone()[0]:
            return None
        return cur.execute(Q["installed_source"]).fetchone()


def cron_target(conn: psycopg.Connection, url: str) -> CronTarget:
    """Where pg_cron lives for this database, or a one-line error saying how to get it.

    pg_cron installed here is enough (Supabase): no superuser-only setting is read.
    """
    with conn.cursor(row_factory=tuple_row) as cur:
        installed_here, libraries, cron_database, database = cur.execute(Q["cron_location"]).fetchone()
    if installed_here:
        return CronTarget(url=url, database=database, local=True)
    if libraries is None:
        raise MigrationError(
            f"pg_cron is not installed in database {database}, and this role cannot read the server's settings to "
            "find out where it lives: enable the pg_cron extension here (Supabase: Database, Extensions) "
            "or migrate as a superuser")
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
    """Use pgmq where it exists (Supabase's 1.4.4, or any later one); else CREATE EXTENSION where
    the server offers it; else the SQL-only install bundled with the pgmq package, once."""
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


# -- yoyo migrations (sql/) ----------------------------------------------------------


@contextmanager
def yoyo_backend(url: str):
    """yoyo speaks URLs only: give it psycopg 3, the same connection parameters and our schema; close it after."""
    params = conninfo_to_dict(url)
    params.setdefault("connect_timeout", str(db.CONNECT_TIMEOUT_S))
    params["schema"] = MIGRATIONS_SCHEMA  # yoyo sets search_path to it: its tables go there
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
    try:
        backend = get_backend(f"postgresql+psycopg://{netloc}/{quote(dbname, safe='')}?{urlencode(params)}")
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot reach the database at {db.describe(url)}") from exc
    try:
        yield backend
    finally:
        backend.connection.close()


def migration_list():
    return read_migrations(str(SQL_DIR))


def apply_migrations(conn: psycopg.Connection, url: str, changes: list[str]) -> None:
    """Each pending migration in its own transaction; a failure names the migration."""
    conn.execute(Q["create_migrations_schema"])
    conn.commit()
    with yoyo_backend(url) as backend, backend.lock():
        for migration in backend.to_apply(migration_list()):
            try:
                backend.apply_one(migration)
            except psycopg.Error as exc:
                raise MigrationError(f"migration {migration.id} failed") from exc
            changes.append(f"migration {migration.id}: applied")


def migration_status(url: str) -> list[tuple[str, bool]]:
    """(id, applied) for every migration in sql/, in order."""
    with db.connect(url) as conn:
        if not conn.execute(Q["has_migrations_schema"]).fetchone()[0]:
            return [(m.id, False) for m in migration_list()]
    with yoyo_backend(url) as backend:
        return [(m.id, backend.is_applied(m)) for m in migration_list()]


# -- functions (sql/functions/) ---------------------------------------------------


def apply_functions(conn: psycopg.Connection, changes: list[str]) -> None:
    """Re-apply every sql/functions/ file (CREATE OR REPLACE) in one transaction; report the functions
    that changed, and drop stale overloads: a function of those files whose signature changed would
    otherwise stay beside the new one, and a cron command calling it could become ambiguous."""
    before = dict(conn.execute(Q["function_fingerprints"]).fetchall())
    names: set[str] = set()
    # SQL-language bodies may name the source's relations, installed after the functions.
    conn.execute(Q["defer_function_bodies"])
    for path in sorted(FUNCTIONS_DIR.glob("*.sql")):
        text = path.read_text()
        names.update(DEFINED_FUNCTION.findall(text))
        try:
            conn.execute(text)
        except psycopg.Error as exc:
            raise MigrationError(f"sql/functions/{path.name} failed") from exc
    for (stale,) in conn.execute(Q["stale_overloads"], {"names": sorted(names)}).fetchall():
        changes.append(f"function {stale}: dropped (a stale overload)")
    conn.commit()
    after = dict(conn.execute(Q["function_fingerprints"]).fetchall())
    for name, digest in sorted(after.items()):
        if name not in before:
            changes.append(f"function {name}: created")
        elif before[name] != digest:
            changes.append(f"function {name}: updated")


# -- the source contract (sources/) --------------------------------------------------


def apply_source(conn: psycopg.Connection, source: Source, changes: list[str], *, force: bool = False) -> None:
    """(Re)install the source when its files changed, in one transaction: schema wheels_source
    dropped, app.sql (a stand-in app's own tables, idempotent), wheels_source afresh with
    contract.sql, then the budget state summed and the declared logs' day partitions made."""
    installed = installed_source(conn)
    if installed is not None and installed[1] == source.fingerprint and not force:
        return
    refuse_foreign_dependents(conn, "wheels_source")
    try:
        # The contract's views depend on the app's tables: out of the way first,
        # so app.sql may change a table (the demo's PAM log became partitioned).
        conn.execute(Q["drop_source_schema"])
        if source.sql("app"):
            conn.execute(source.sql("app"))
        conn.execute(Q["create_source_schema"])
        conn.execute(source.sql("contract"))
        # Derived from the source's data as this contract maps it: summed afresh.
        conn.execute(Q["rebuild_budget_state"])
        conn.execute(Q["look_at_everything_again"])
        # The declared logs get today's and the next days' partitions at once.
        conn.execute(Q["create_day_partitions"])
    except psycopg.Error as exc:
        raise MigrationError(f"source {source.name} failed") from exc
    conn.execute(Q["remember_source"], {"name": source.name, "fingerprint": source.fingerprint})
    conn.commit()
    changes.append(f"source {source.name}: {'updated' if installed else 'installed'}")


def refuse_foreign_dependents(conn: psycopg.Connection, schema: str) -> None:
    dependents = [d for (d,) in conn.execute(Q["dependents_outside"], {"schema": schema})]
    if dependents:
        raise MigrationError(f"cannot replace schema {schema}: {', '.join(dependents)} depend(s) on it")


# -- jobs and schedules (sql/cron/) ---------------------------------------------------


def apply_jobs(conn: psycopg.Connection, changes: list[str]) -> None:
    """Make wheels.jobs equal sql/cron/: what run_job runs, each job's time limit and schedule."""
    wanted = schedules()
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(Q["sync_jobs"], {
            "jobs": [s.job for s in wanted], "schedules": [s.schedule for s in wanted],
            "commands": [s.command for s in wanted], "time_limits": [s.time_limit for s in wanted],
        }):
            changes.append(f"job {row['job']}: {row['change']}")
    conn.commit()


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


def unschedule_all(url: str) -> list[str]:
    """Remove every job migrate scheduled for this database (rollback path, and test clean-up)."""
    with db.connect(url) as conn:
        target = cron_target(conn, url)
    removed = []
    with db.connect(target.url, autocommit=True, row_factory=dict_row) as cron:
        for job in cron.execute(Q["cron_jobs"], {"database": target.database, "prefix": target.prefix}).fetchall():
            cron.execute(Q["cron_unschedule"], {"jobid": job["jobid"]})
            removed.append(f"cron {job['jobname']}: unscheduled")
    return removed


# -- rollback -----------------------------------------------------------------------


def rollback(url: str) -> list[str]:
    """Remove everything of ours in reverse: schedules, the source (and its triggers on app tables),
    every migration (and with them the functions, the queue and schema wheels), yoyo's bookkeeping.
    Roles stay (cluster-wide) and so does pgmq (the platform may own it). One line per change."""
    changes: list[str] = []
    with _migrate_lock(url) as conn:
        try:
            changes += unschedule_all(url)
        except MigrationError:
            pass  # no pg_cron to be found: nothing of ours can be scheduled
        installed = installed_source(conn)
        if installed is not None:
            remove_source(conn, Source.find(installed[0]))
            changes.append(f"source {installed[0]}: removed")
        if conn.execute(Q["has_migrations_schema"]).fetchone()[0]:
            with yoyo_backend(url) as backend, backend.lock():
                for migration in backend.to_rollback(migration_list()):
                    try:
                        backend.rollback_one(migration)
                    except psycopg.Error as exc:
                        raise MigrationError(f"rollback of migration {migration.id} failed") from exc
                    changes.append(f"migration {migration.id}: rolled back")
            conn.execute(Q["drop_migrations_schema"])
            conn.commit()
            changes.append(f"schema {MIGRATIONS_SCHEMA}: dropped")
    return changes


def remove_source(conn: psycopg.Connection, source: Source) -> None:
    refuse_foreign_dependents(conn, "wheels_source")
    try:
        conn.execute(Q["drop_source_schema"])
        if source.sql("uninstall"):
            conn.execute(source.sql("uninstall"))
    except psycopg.Error as exc:
        raise MigrationError(f"removing source {source.name} failed") from exc
    conn.execute(Q["forget_source"])
    conn.commit()
