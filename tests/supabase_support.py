"""A Supabase-shaped PostgreSQL for the adoption tests (tests/test_supabase.py).

Its own cluster, from a copy of the PostgreSQL tree that also holds pgmq
1.4.4's extension files (the release Supabase ships; tests/supabase/pgmq/), so
the test clusters of the other tests never see that extension. The bootstrap
superuser is supabase_admin, as on Supabase; the database `postgres` holds
the platform (tests/supabase/platform.sql: API roles, auth, default privileges,
pg_cron, pgmq created by `postgres`) and the app (tests/supabase/app.sql),
and `postgres` is the non-superuser owner wheels-jobs migrates as.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from wheels_jobs.embedded import Cluster, find_bin_dir

HERE = Path(__file__).parent / "supabase"
ADMIN = "supabase_admin"
OWNER = "postgres"


def pg_tree_with_pgmq_1_4_4(prefix: Path) -> Path:
    """A copy of this machine's PostgreSQL tree under prefix, with pgmq 1.4.4's files in its
    extension folder; returns its bin folder. PostgreSQL finds its share folder relative to
    its binaries, so the copy sees the extension and the system's clusters do not."""
    system_bin = find_bin_dir()
    major = system_bin.parent.name
    lib = prefix / "lib" / "postgresql" / major
    share = prefix / "share" / "postgresql" / major
    shutil.copytree(system_bin.parent, lib, symlinks=True)
    shutil.copytree(Path("/usr/share/postgresql") / major, share, symlinks=True)
    for name in ("pgmq.control", "pgmq--1.4.4.sql"):
        shutil.copyfile(HERE / "pgmq" / name, share / "extension" / name)
    return lib / "bin"


@dataclass
class Supabase:
    cluster: Cluster

    @property
    def owner_url(self) -> str:
        """As `postgres`, the role a project migrates as (not a superuser)."""
        return f"postgresql://{OWNER}@127.0.0.1:{self.cluster.port}/postgres"

    @property
    def admin_url(self) -> str:
        return self.cluster.url("postgres")

    @contextmanager
    def as_role(self, role: str):
        """An autocommit connection acting as `role` (SET ROLE from the superuser)."""
        with psycopg.connect(self.admin_url, autocommit=True, row_factory=dict_row) as conn:
            conn.execute(f"SET ROLE {role}")
            yield conn

    def sign_up(self, email: str | None, full_name: str | None = None) -> uuid.UUID:
        """A Supabase Auth sign-up: supabase_auth_admin inserts the auth.users row."""
        user_id = uuid.uuid4()
        with self.as_role("supabase_auth_admin") as conn:
            conn.execute("INSERT INTO auth.users (id, email, raw_user_meta_data, aud, role)"
                         " VALUES (%s, %s, jsonb_build_object('full_name', %s::text), 'authenticated', 'authenticated')",
                         [user_id, email, full_name])
        return user_id


def start(folder: Path, settings: dict[str, str] | None = None) -> Supabase:
    """settings: the server's, beyond durability off (bench/scale.py gives more memory)."""
    folder.chmod(0o755)
    cluster = Cluster(folder / "data", database="postgres", superuser=ADMIN,
                      bin_dir=pg_tree_with_pgmq_1_4_4(folder / "pgtree"),
                      settings={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                                **(settings or {})})
    cluster.ensure_running()
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute((HERE / "platform.sql").read_text())
        conn.execute("SET ROLE postgres")
        conn.execute((HERE / "app.sql").read_text())
    return Supabase(cluster)


@contextmanager
def server() -> Iterator[Supabase]:
    """A Supabase-shaped server in a fresh folder, stopped and removed afterwards (a test module's)."""
    folder = Path(tempfile.mkdtemp(prefix="wheels-test-supabase-"))
    try:
        instance = start(folder)
        try:
            yield instance
        finally:
            instance.cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- the app's catalog, to compare before and after ---------------------------------

CATALOG = {
    "schemas": """
        SELECT n.nspname, n.nspowner::regrole::text, n.nspacl::text, obj_description(n.oid, 'pg_namespace')
        FROM pg_namespace n WHERE n.nspname = ANY (%(schemas)s::text[]) ORDER BY 1""",
    "relations": """
        SELECT c.oid::regclass::text, c.relkind, c.relowner::regrole::text, c.relacl::text, c.relrowsecurity,
               c.relforcerowsecurity, obj_description(c.oid, 'pg_class')
        FROM pg_class c WHERE c.relnamespace::regnamespace::text = ANY (%(schemas)s::text[]) ORDER BY 1""",
    "columns": """
        SELECT a.attrelid::regclass::text, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attacl::text, col_description(a.attrelid, a.attnum)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)
        WHERE c.relnamespace::regnamespace::text = ANY (%(schemas)s::text[]) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY 1, 2""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE connamespace::regnamespace::text = ANY (%(schemas)s::text[]) ORDER BY 1, 2""",
    "indexes": "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname = ANY (%(schemas)s::text[]) ORDER BY 1, 2",
    "policies": """
        SELECT schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check
        FROM pg_policies WHERE schemaname = ANY (%(schemas)s::text[]) ORDER BY 1, 2, 3""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace::regnamespace::text = ANY (%(schemas)s::text[])
        ORDER BY 1, 2""",
    "functions": """
        SELECT p.oid::regprocedure::text, p.proowner::regrole::text, p.prosecdef, p.proacl::text, md5(p.prosrc),
               p.proconfig::text
        FROM pg_proc p WHERE p.pronamespace::regnamespace::text = ANY (%(schemas)s::text[]) ORDER BY 1""",
    "default_privileges": """
        SELECT d.defaclrole::regrole::text, d.defaclnamespace::regnamespace::text, d.defaclobjtype, d.defaclacl::text
        FROM pg_default_acl d ORDER BY 1, 2, 3""",
    "extensions": "SELECT extname, extowner::regrole::text, extversion FROM pg_extension WHERE %(schemas)s::text[] IS NOT NULL ORDER BY 1",
    "cron_jobs": """
        SELECT jobname, schedule, command, database, username, active FROM cron.job
        WHERE %(schemas)s::text[] IS NOT NULL ORDER BY 1""",
}
APP_SCHEMAS = ["public", "auth"]
# Everything an install touches: the app's schemas, ours, and pgmq's (our queue's tables).
ALL_SCHEMAS = [*APP_SCHEMAS, "wheels", "wheels_source", "wheels_migrations", "pgmq"]


def catalog(url: str, schemas: list[str] = APP_SCHEMAS) -> dict[str, list[tuple]]:
    """The objects of `schemas` (default: the app's) as the catalog describes them: schemas, tables
    and views, columns, constraints, indexes, policies, triggers, functions, grants, comments, default
    privileges, extensions and pg_cron's jobs."""
    # An empty search_path: every name prints schema-qualified.
    with psycopg.connect(url, options="-c search_path=pg_catalog") as conn:
        return {name: conn.execute(query, {"schemas": schemas}).fetchall() for name, query in CATALOG.items()}
