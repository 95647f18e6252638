"""wheels-jobs operator CLI: the embedded database, migrations and jobs.

Run `python cli.py --help`. Every command that needs a database takes
--database-url (or DATABASE_URL); with neither it uses the project-local
cluster in .pgdata/, started on demand.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from wheels_jobs import db, jobs, migrate as migrations
from wheels_jobs.errors import WheelsError, one_line

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="The embedded local PostgreSQL cluster (.pgdata/).", no_args_is_help=True)
app.add_typer(db_app, name="db")
jobs_app = typer.Typer(help="The scheduled jobs of sql/cron/: what pg_cron did, and running one now.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

out = Console()

DatabaseUrl = Annotated[
    Optional[str],
    typer.Option(
        "--database-url",
        envvar="DATABASE_URL",
        show_envvar=True,
        help="PostgreSQL URL; default: the embedded cluster in .pgdata/, started on demand.",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of a table.")]


# -- db ---------------------------------------------------------------------


@db_app.command("start")
def db_start() -> None:
    """Create (first time) and start the embedded cluster; print its URL."""
    out.print(db.embedded_cluster().ensure_running())


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster (its data stays in .pgdata/)."""
    cluster = db.embedded_cluster()
    cluster.stop()
    out.print(f"stopped ({cluster.data_dir})")


@db_app.command("status")
def db_status(as_json: AsJson = False) -> None:
    """Whether the embedded cluster exists and runs; exit 1 when it is not running."""
    cluster = db.embedded_cluster()
    state = {
        "data_dir": str(cluster.data_dir),
        "initialized": cluster.initialized,
        "running": cluster.running,
        "url": cluster.url() if cluster.initialized else None,
    }
    if as_json:
        print(json.dumps(state))
    else:
        word = "running" if state["running"] else ("stopped" if state["initialized"] else "not created")
        out.print(f"{word}: {state['data_dir']}" + (f" ({state['url']})" if state["running"] else ""))
    raise typer.Exit(0 if state["running"] else 1)


@db_app.command("url")
def db_url() -> None:
    """Print the embedded cluster's URL (starting it if needed), e.g. for psql $(python cli.py db url)."""
    print(db.embedded_cluster().ensure_running())


# -- migrate ------------------------------------------------------------------


@app.command()
def migrate(
    database_url: DatabaseUrl = None,
    list_: Annotated[bool, typer.Option("--list", help="Show applied and pending migrations; change nothing.")] = False,
    rollback: Annotated[bool, typer.Option("--rollback", help="Roll back the newest applied migration.")] = False,
) -> None:
    """Install pg_cron and pgmq, apply migrations, job functions and schedules. Safe to re-run."""
    url = db.resolve_url(database_url)
    if list_:
        table = Table("migration", "state")
        for migration_id, applied in migrations.migration_status(url):
            table.add_row(migration_id, "applied" if applied else "[yellow]pending[/]")
        out.print(table)
    elif rollback:
        rolled_back = migrations.rollback_last(url)
        out.print(f"rolled back {rolled_back}" if rolled_back else "nothing to roll back")
    else:
        changes = migrations.migrate(url)
        for change in changes:
            out.print(change, highlight=False)
        out.print(f"{len(changes)} change(s)" if changes else "nothing to do: the database is up to date")


# -- jobs ---------------------------------------------------------------------


@jobs_app.command("list")
def jobs_list(database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """Every job with its schedule (UTC) and pg_cron's last run, status, duration and last error."""
    statuses = jobs.status(db.resolve_url(database_url))
    if as_json:
        print(json.dumps([s.as_json() for s in statuses]))
        return
    table = Table()
    table.add_column("job", no_wrap=True)
    table.add_column("schedule (UTC)", no_wrap=True)
    for column in ("last run", "status", "duration", "last error"):
        table.add_column(column)
    for s in statuses:
        state = s.last_status or ("never run" if s.scheduled else "[yellow]not scheduled[/]")
        table.add_row(
            s.name,
            s.schedule,
            f"{s.last_start:%Y-%m-%d %H:%M:%S%z}" if s.last_start else "",
            f"[red]{state}[/]" if state == "failed" else state,
            f"{s.last_duration_s:.2f} s" if s.last_duration_s is not None else "",
            f"{s.last_error_at:%Y-%m-%d %H:%M} {s.last_error}" if s.last_error else "",
        )
    out.print(table)


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="The job, as `jobs list` names it.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Run one job now, with the same SQL pg_cron runs, and print its one-line result."""
    job = jobs.find(name)
    out.print(jobs.run(db.resolve_url(database_url), job), highlight=False)


def main() -> None:
    """Run the CLI; an expected failure prints one line on stderr and exits 1."""
    try:
        app()
    except WheelsError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
