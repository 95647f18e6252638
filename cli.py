"""wheels-jobs operator CLI: the embedded database, migrations, jobs, status, dead letters, the demo and the web service.

Run `.venv/bin/python cli.py --help` (`bash scripts/setup.sh` creates .venv). Every command that needs a
database takes --database-url (or DATABASE_URL); with neither it uses the project-local cluster in .pgdata/,
started on demand.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Optional

# How the README and every message say to run this file: with the project's virtualenv.
CLI = ".venv/bin/python cli.py"

try:  # the dependencies live in .venv: a Python without them gets one line saying what to run, not a traceback
    import typer
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from wheels_core.email_settings import DEV_SECRET_NOTE
    from web import app as web_app
    from wheels_core import db, formats, logs
    from wheels_jobs import (
        demo as demo_data,
        dlq as dead_letters,
        embedded,
        jobs,
        migrate as migrations,
        report as reports,
        source as sources,
        sqlscript,
        status as system_status,
    )
    from wheels_core.errors import ConfigError, NotFound, run_cli
except ModuleNotFoundError as missing:
    sys.exit(f"error: {sys.executable} lacks the project's packages ({missing.name}): run "
             f"`{shlex.join([*CLI.split(), *sys.argv[1:]])}` in {Path(__file__).resolve().parent} "
             "(`bash scripts/setup.sh` creates .venv)")

# Plain help (click's): paragraphs re-flowed to the terminal, no type boxes (rich mode printed
# <bool> after every flag and kept the docstrings' line breaks).
PLAIN = {"no_args_is_help": True, "rich_markup_mode": None, "context_settings": {"max_content_width": 120}}
app = typer.Typer(help=__doc__, pretty_exceptions_enable=False, add_completion=False, **PLAIN)
db_app = typer.Typer(help="The embedded local PostgreSQL cluster (.pgdata/).", **PLAIN)
app.add_typer(db_app, name="db")
jobs_app = typer.Typer(help="The scheduled jobs of sql/cron/: what pg_cron did, and running one now.", **PLAIN)
app.add_typer(jobs_app, name="jobs")
dlq_app = typer.Typer(help="Dead letters: intents that failed for good, with the reason; replayable.", **PLAIN)
app.add_typer(dlq_app, name="dlq")
source_app = typer.Typer(help="The source contract: how the jobs read the app's data (docs/ADOPTING.md).", **PLAIN)
app.add_typer(source_app, name="source")

# Piped or redirected (a file, CI, `| grep`), rich would cut tables to 80 columns ("durat…"), or
# to COLUMNS, which shells and test runners leave in the environment: then print them whole, as
# wide as they are. A terminal keeps its width.
UNWRAPPED_COLUMNS = 1000


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=UNWRAPPED_COLUMNS)


out = _console()
err = _console(stderr=True)


def _database(database_url: str | None) -> str:
    """The URL given, else the embedded cluster's, created and started on demand, saying so on
    stderr (a look like `status` must not start a stopped database silently)."""
    if database_url:
        return database_url
    cluster = embedded.embedded_cluster()
    was = "running" if cluster.running else "stopped" if cluster.initialized else "absent"
    url = cluster.ensure_running()
    if was != "running":
        err.print(f"{'started' if was == 'stopped' else 'created and started'} the embedded database in "
                  f"{cluster.data_dir} (it keeps running; `{CLI} db stop` stops it)", highlight=False)
    return url


DatabaseUrl = Annotated[
    Optional[str],
    typer.Option(
        "--database-url",
        envvar="DATABASE_URL",
        show_envvar=True,
        metavar="URL",
        help="PostgreSQL URL; default: the embedded cluster in .pgdata/, started on demand.",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of a table.")]
OutboxDir = Annotated[Optional[Path], typer.Option(
    "--outbox-dir", envvar="OUTBOX_DIR", show_envvar=True, metavar="DIR",
    help="Where .eml files go when RESEND_API_KEY is not set (default ./outbox).")]


# -- db ---------------------------------------------------------------------


@db_app.command("start")
def db_start() -> None:
    """Create (first time) and start the embedded cluster; print its URL."""
    out.print(embedded.embedded_cluster().ensure_running())


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster (its data stays in .pgdata/)."""
    cluster = embedded.embedded_cluster()
    cluster.stop()
    out.print(f"stopped ({cluster.data_dir})")


@db_app.command("status")
def db_status(as_json: AsJson = False) -> None:
    """Whether the embedded cluster exists and runs; exit 1 when it is not running."""
    cluster = embedded.embedded_cluster()
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
    print(embedded.embedded_cluster().ensure_running())


# -- migrate ------------------------------------------------------------------


@app.command()
def migrate(
    database_url: DatabaseUrl = None,
    source: Annotated[Optional[str], typer.Option(
        "--source", metavar="NAME|FOLDER",
        help="The source contract over the app's data: demo, supabase-wheels or a folder "
             "(docs/ADOPTING.md). Default: the one installed; the embedded database: demo.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="Show applied and pending migrations; change nothing.")] = False,
    rollback: Annotated[bool, typer.Option(
        "--rollback", help="Remove everything migrate installed (schedules, source, migrations); roles and pgmq stay.")] = False,
    reinstall_source: Annotated[bool, typer.Option(
        "--reinstall-source", help="Install the source afresh although its files did not change: after the app "
        "replaced a table its views read (docs/SCALING.md).")] = False,
    sql: Annotated[bool, typer.Option(
        "--sql", help="Print the whole install (with --rollback: its removal) as one idempotent SQL file for "
                      "review, the Supabase SQL editor or psql -f; connect to nothing.")] = False,
) -> None:
    """Install pg_cron and pgmq, apply migrations, job functions, the source contract and schedules. Safe to re-run."""
    if sql:
        chosen = migrations.Source.find(source or "demo")
        print(sqlscript.rollback_script(chosen) if rollback else sqlscript.install_script(chosen), end="")
        return
    url = _database(database_url)
    if list_:
        table = Table("migration", "state")
        for migration_id, applied in migrations.migration_status(url):
            table.add_row(migration_id, "applied" if applied else "[yellow]pending[/]")
        out.print(table)
        return
    if rollback:
        changes = migrations.rollback(url)
    else:
        changes = migrations.migrate(url, source or ("demo" if database_url is None else None),
                                     reinstall_source=reinstall_source)
        if os.environ.get("ADMIN_EMAILS") is not None:  # the daily_report job's recipients (README: Analytics)
            changes += filter(None, [reports.sync_admin_emails(url, os.environ["ADMIN_EMAILS"])])
    for change in changes:
        out.print(change, highlight=False)
    out.print(f"{len(changes)} change(s)" if changes else "nothing to do: the database is up to date")


# -- source -------------------------------------------------------------------


@source_app.command("check")
def source_check(
    database_url: DatabaseUrl = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on data findings too.")] = False,
    as_json: AsJson = False,
) -> None:
    """Check the installed source against the contract, then its data; exit 1 on a contract violation."""
    result = sources.check(_database(database_url))
    if as_json:
        print(json.dumps(result.as_json()))
    else:
        table = Table("severity", "what", "problem", "value", "rows", title=f"Source {result.source}")
        for f in result.findings:
            table.add_row("[red]violation[/]" if f.severity == "violation" else "data", f.subject, f.problem,
                          f.value if f.value is not None else "", "" if f.count is None else str(f.count))
        out.print(table if result.findings else f"source {result.source}: matches the contract, no findings")
    raise typer.Exit(1 if result.violations or (strict and result.findings) else 0)


# -- report -------------------------------------------------------------------


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


@app.command()
def report(
    day: Annotated[Optional[date], typer.Option("--date", parser=_day, metavar="YYYY-MM-DD",
                                      help="The UTC day; default: yesterday.")] = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """The daily report's figures for one UTC day: PAM messages, users, success rate, response times, intents, emails."""
    figures = reports.figures(_database(database_url),
                              day or datetime.now(timezone.utc).date() - timedelta(days=1))
    if as_json:
        print(json.dumps(figures))
        return
    out.print(f"[bold]Wheels daily report for {figures['day']} (UTC)[/]"
              + ("" if figures["rolled_up"] else " [yellow](no analytics_daily row: not rolled up, or no events)[/]"),
              highlight=False)
    table = Table("PAM", "value")
    for label, value in [
        ("messages", figures["messages"]), ("responses", figures["responses"]),
        ("distinct users", figures["distinct_users"]), ("failed responses", figures["failures"]),
        ("success rate", formats.rate(figures["success_rate"])),
        *[(f"response time {p}", "n/a" if figures[f"{p}_ms"] is None else f"{figures[f'{p}_ms']:,.0f} ms")
          for p in ("p50", "p95", "p99")],
    ]:
        table.add_row(label, str(value))
    out.print(table)
    intents = Table("top intent", "events")
    for t in figures["top_intents"]:
        intents.add_row(t["intent"], str(t["count"]))
    out.print(intents)
    emails = Table("email kind", "sent", "dead-lettered", "suppressed")
    for e in figures["emails"]:
        emails.add_row(e["kind"], str(e["sent"]), f"[red]{e['dead_lettered']}[/]" if e["dead_lettered"]
                       else "0", str(e["suppressed"]))
    out.print(emails if figures["emails"] else "emails: none sent, dead-lettered or suppressed")
    since = f"{figures['activated_at'][:16].replace('T', ' ')} UTC" if figures["activated_at"] else "no activation recorded"
    out.print(success_table(figures["success"], f"Success since activation ({since}), at the end of {figures['day']}"))


STATUS_STYLE = {"met": "green", "not met": "red", "not yet": "yellow"}


def success_table(metrics: list[dict], title: str) -> Table:
    """The activation guide's success metrics (wheels.success_metrics) as a table."""
    table = Table("checkpoint", "metric", "now", "target", "status", "note", title=title, title_justify="left")
    for m in metrics:
        status = m["status"] or ""
        table.add_row(m["checkpoint"], m["label"], m["shown"], m["target_shown"] or "",
                      f"[{STATUS_STYLE[status]}]{status}[/]" if status else "", m["note"] or "")
    return table


# -- web ----------------------------------------------------------------------


@app.command()
def web(
    database_url: DatabaseUrl = None,
    host: Annotated[str, typer.Option(
        "--host", envvar="WEB_HOST", show_envvar=True, metavar="ADDRESS",
        help="Address to listen on; anything but loopback needs UNSUBSCRIBE_SECRET.")] = web_app.DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", envvar="WEB_PORT", show_envvar=True, min=0, max=65535, metavar="PORT",
                                      help="TCP port (0: any free port).")] = web_app.DEFAULT_PORT,
    log_level: Annotated[str, typer.Option(
        "--log-level", envvar="WEB_LOG_LEVEL", show_envvar=True, metavar="LEVEL",
        help="Least severe log records written to stderr: DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    log_format: Annotated[str, typer.Option(
        "--log-format", envvar="LOG_FORMAT", show_envvar=True, metavar="text|json",
        help="One readable line per event, or one JSON object per line (for a log view).")] = "text",
) -> None:
    """Serve one-click unsubscribe, the preferences page and Resend webhooks (README: The web service)."""
    logs.setup(log_level, log_format)
    # Reachable from other machines, the development secret would let anyone forge links.
    settings = web_app.WebSettings.from_env(require_secret=not web_app.is_loopback(host))
    if settings.email.dev_secret:
        logging.getLogger("web").warning(DEV_SECRET_NOTE, extra={"action": "dev_secret"})
    web_app.serve(db.require_url(database_url, "the web service"), settings, host, port)

# -- jobs ---------------------------------------------------------------------


def _jobs_table(statuses: list[jobs.JobStatus], title: str | None = None) -> Table:
    """The jobs as `jobs list` and `status` show them: schedule (UTC), the last run whoever ran it,
    its status, duration and result, failures of the last 24 h and the last failure."""
    table = Table(title=title)
    table.add_column("job", no_wrap=True)
    table.add_column("schedule (UTC)", no_wrap=True)
    for column in ("last run", "by", "status", "duration", "result", "failures 24 h", "last failure"):
        table.add_column(column)
    for s in statuses:
        table.add_row(
            s.name,
            s.schedule,
            f"{s.last_start:%Y-%m-%d %H:%M:%S%z}" if s.last_start else "",
            s.last_runner or "",
            _job_state(s),
            f"{s.last_duration_s:.2f} s" if s.last_duration_s is not None else "",
            s.last_result or "",
            f"[red]{s.failures_24h}[/]" if s.failures_24h else "0",
            f"{s.last_error_at:%Y-%m-%d %H:%M} {s.last_error}" if s.last_error else "",
        )
    return table


def _job_state(j: jobs.JobStatus) -> str:
    """What a job is doing, for a table cell: running, its last outcome, or why it never ran."""
    if j.running_since:
        return f"running since {j.running_since:%H:%M:%S}"
    if j.last_status:
        return f"[red]{j.last_status}[/]" if j.last_status == "failed" else j.last_status
    return "never run" if j.scheduled is not False else "[yellow]not scheduled[/]"


@jobs_app.command("list")
def jobs_list(database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """Every job: schedule (UTC), its last run whoever ran it (pg_cron, jobs run, demo, up), status, duration,
    result and last failure."""
    statuses = jobs.status(_database(database_url))
    if as_json:
        print(json.dumps([s.as_json() for s in statuses]))
        return
    out.print(_jobs_table(statuses))


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(metavar="JOB", help="The job, as `jobs list` names it.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Run one job now, with the same SQL pg_cron runs, and print its one-line result."""
    job = jobs.find(name)
    print(jobs.run(_database(database_url), job, "wheels jobs run"))  # plain: one line, never wrapped

@jobs_app.command("unschedule-all")
def jobs_unschedule_all(database_url: DatabaseUrl = None) -> None:
    """Remove every pg_cron job `migrate` scheduled for this database (rollback path; `migrate` schedules them again)."""
    url = _database(database_url)
    migrations.unschedule_all(url)
    out.print(f"unscheduled every wheels job of {db.describe(url)}")


# -- status -------------------------------------------------------------------


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _print_status(report: system_status.Report) -> None:
    source = report.database["source"] or "no source installed"
    out.print(f"[bold]database {report.database['name']}[/] (source {source})", highlight=False)
    queues = Table("queue", "depth", "visible", "in flight", "oldest", title="Queues")
    for q in report.queues:
        queues.add_row(q["queue"], str(q["depth"]), str(q["visible"]), str(q["in_flight"]), _age(q["oldest_age_s"]))
    out.print(queues)
    dead = report.dead_letters["count"]
    out.print(f"dead letters: [red]{dead}[/]" if dead else "dead letters: 0")
    out.print(_jobs_table(report.jobs, "Jobs"))
    e = report.emails
    quota = Table("sent by the provider", "count", "quota", "used", title="Emails (UTC)")
    for label, period in (("today", "daily"), ("this month", "monthly")):
        used = e[f"percent_{period}"]
        shown = "" if used is None else f"{used:.0f}%"
        quota.add_row(label, str(e["sent_today" if period == "daily" else "sent_month"]), str(e[f"quota_{period}"]),
                      f"[yellow]{shown}[/]" if used is not None and used >= e["warn_percent"] else shown)
    out.print(quota)
    out.print(f"written to the outbox folder today: {e['outbox_today']} (no quota)", highlight=False)
    p = report.provider
    if p["provider_down_s"] is not None:
        out.print(f"provider: [red]down for {_age(p['provider_down_s'])}[/] ({p['outage_reason']})", highlight=False)
    elif p["paused_left_s"] is not None:
        out.print(f"provider: [yellow]sending paused for {_age(p['paused_left_s'])} more[/] ({p['pause_reason']})",
                  highlight=False)
    else:
        out.print("provider: answering (no outage, no pause)")
    senders = Table("host", "pid", "transport", "started", "last seen", "state", title="Sender processes (24 h)")
    for s in report.senders:
        state = "running" if s["running"] else ("stopped" if s["stopped_at"] else "[yellow]silent[/]")
        senders.add_row(s["host"], str(s["pid"]), s["transport"], f"{s['started_at']:%Y-%m-%d %H:%M:%S}",
                        f"{s['last_seen_at']:%Y-%m-%d %H:%M:%S}", state)
    out.print(senders if report.senders else "sender processes: none seen in 24 h")
    ev = report.delivery_events
    rate = "n/a" if ev["complaint_rate"] is None else f"{ev['complaint_rate']:.2%}"
    out.print(f"last 7 days: {ev['sent']} sent, {ev['bounces']} bounce(s), {ev['complaints']} complaint(s), "
              f"complaint rate {rate}", highlight=False)
    if report.attention:
        out.print("[red]needs attention:[/]")
        for line in report.attention:
            out.print(f"  - {line}", highlight=False)
    else:
        out.print("[green]healthy[/]")


@app.command(help="Queues, dead letters, jobs, email quota, senders, bounces and complaints.\n\n"
                  "Exit code 1 when something needs attention (a health check): "
                  + "; ".join(system_status.ATTENTION_CONDITIONS)
                  + ". Thresholds are wheels.settings rows (sql/0001_wheels.sql).")
def status(database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    report = system_status.gather(_database(database_url))
    if as_json:
        print(json.dumps(report.as_json()))
    else:
        _print_status(report)
    raise typer.Exit(1 if report.attention else 0)


@app.command("sender-health")
def sender_health(database_url: DatabaseUrl = None) -> None:
    """Exit 0 when a `sender drain` is running (a heartbeat fresher than the sender_seen_minutes
    setting, no clean exit), else 1; one line either way. Render health-checks web services only:
    run this from a cron job or an uptime monitor (README: Deployment)."""
    healthy, line = system_status.sender_health(_database(database_url))
    print(line)
    raise typer.Exit(0 if healthy else 1)


# -- dlq ----------------------------------------------------------------------

REPLAY_RULE = (
    "A letter whose email never reached the provider (an unreadable message, or an email the provider "
    "answered for and rejected, or a batch every call of which got a definite 'not sent') goes back on the "
    "queue with attempts reset, detached from its old batch: the sender puts it in a new batch under a fresh "
    "idempotency key. A letter that died with a batch that may have reached the provider (a timeout or 5xx "
    "without an answer, or a batch older than the provider's 24 h key memory) is kept: a fresh key could send "
    "it twice, and the old key cannot be reused (the provider binds it to the exact payload of the whole batch, "
    "which is not kept once the batch has failed). Check the provider's log for that recipient; --force replays "
    "it anyway under a fresh key. Exit code 1 when any letter named was kept or does not exist."
)


@dlq_app.command("list")
def dlq_list(
    database_url: DatabaseUrl = None, as_json: AsJson = False,
    kind: Annotated[Optional[str], typer.Option("--kind", metavar="KIND", help="Only this email kind.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="At most this many, newest first.")] = 100,
) -> None:
    """Dead letters, newest first: reason, kind, recipient, attempts, age."""
    letters = dead_letters.list_letters(_database(database_url), kind, limit)
    if as_json:
        print(json.dumps([{**x, "created_at": x["created_at"].isoformat()} for x in letters]))
        return
    table = Table("id", "age", "kind", "recipient", "attempts", "may have been sent", "reason")
    for x in letters:
        table.add_row(str(x["id"]), _age(x["age_s"]), x["kind"] or "", x["recipient"] or "", str(x["attempts"]),
                      "[yellow]yes[/]" if x["maybe_delivered"] else "no", x["reason"])
    out.print(table if letters else "no dead letters")


@dlq_app.command("show")
def dlq_show(letter_id: Annotated[int, typer.Argument(metavar="ID", help="The letter's id (`dlq list`).")],
             database_url: DatabaseUrl = None) -> None:
    """One dead letter as JSON: payload, reason, its intent's delivery and the batch it died in."""
    letter = dead_letters.show_letter(_database(database_url), letter_id)
    if letter is None:
        raise NotFound(f"no dead letter {letter_id}")
    print(json.dumps({k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in letter.items()}, indent=2))


@dlq_app.command("replay", help="Put dead letters back on the queue.\n\n" + REPLAY_RULE)
def dlq_replay(
    letter_ids: Annotated[Optional[list[int]], typer.Argument(metavar="ID", help="Letter ids (`dlq list`).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every letter (of --kind, if given).")] = False,
    kind: Annotated[Optional[str], typer.Option("--kind", metavar="KIND", help="With --all: only this email kind.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Also letters that may have reached the provider.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    if letter_ids and all_:
        raise typer.BadParameter("give letter ids or --all, not both")
    if not letter_ids and not all_:
        raise typer.BadParameter("give the ids of the letters to replay (`dlq list`), or --all")
    rows = dead_letters.replay(_database(database_url), letter_ids or [], all_=all_, kind=kind, force=force)
    missing = sorted(set(letter_ids or []) - {r["id"] for r in rows})
    for r in rows:
        if r["msg_id"] is not None:
            out.print(f"{r['id']}: replayed as message {r['msg_id']} (intent {r['intent_id']}, {r['kind']})",
                      highlight=False)
        else:
            out.print(f"{r['id']}: {r['kept_because']}", highlight=False)
    for letter_id in missing:
        out.print(f"{letter_id}: no such dead letter", highlight=False)
    replayed = sum(1 for r in rows if r["msg_id"] is not None)
    out.print(f"{replayed} replayed, {len(rows) - replayed + len(missing)} not")
    raise typer.Exit(0 if replayed == len(rows) and not missing else 1)


_DURATION = re.compile(r"^(\d+)([dhm])$")


def _duration_s(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise typer.BadParameter(f"{text!r}: use a number and d, h or m, e.g. 30d")
    return int(match[1]) * {"d": 86400, "h": 3600, "m": 60}[match[2]]


@dlq_app.command("purge")
def dlq_purge(
    older_than: Annotated[str, typer.Option("--older-than", metavar="AGE", help="Age, e.g. 30d, 12h, 90m.")],
    yes: Annotated[bool, typer.Option("--yes", help="Really delete (required).")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete dead letters older than --older-than (their deliveries stay recorded as dead)."""
    seconds = _duration_s(older_than)
    if not yes:
        raise typer.BadParameter("purging deletes dead letters for good: add --yes")
    purged = dead_letters.purge(_database(database_url), seconds)
    out.print(f"purged {purged} dead letter(s) older than {older_than}")


# -- demo and up --------------------------------------------------------------

Force = Annotated[bool, typer.Option(
    "--force", help="Also on a database given by DATABASE_URL (made-up users and emails go into it).")]
SendWithResend = Annotated[bool, typer.Option(
    "--resend", help="Send through Resend (RESEND_API_KEY) instead of the outbox folder: real emails.")]


def _demo_url(database_url: str | None, force: bool) -> str:
    """The embedded database; another one only with --force, since the demo writes made-up users and mails them."""
    if database_url is not None and not force:
        raise ConfigError("the demo loads made-up users into the database and emails them: it runs on the embedded "
                          "database (unset DATABASE_URL), or pass --force to use this one")
    return _database(database_url)


def _transport(outbox_dir: Path | None, resend: bool):
    """The outbox folder, unless --resend: the demo never mails real addresses by accident. Without
    UNSUBSCRIBE_SECRET (allowed for the outbox only) a note says so, once, before anything runs."""
    transport = demo_data.transport(outbox_dir, resend=resend)
    if transport.name == "outbox" and not os.environ.get("UNSUBSCRIBE_SECRET"):
        out.print(f"note: {DEV_SECRET_NOTE}.", highlight=False, style="dim")
    return transport


def _demo(url: str, transport, runner: str) -> None:
    """Load the data set (once), run every job once, deliver the queue once, print a summary:
    emails this run sent against all so far, PAM's last day and the success metrics."""
    before = demo_data.sent_by_kind(url)
    with Progress(console=out, transient=False) as progress:
        task = progress.add_task("demo data", total=len(demo_data.STEPS))
        inserted = demo_data.load_demo_data(
            url, lambda step, rows: progress.update(task, advance=1, description=f"demo data: {step} ({rows} rows)"))
        if not inserted:
            progress.update(task, completed=len(demo_data.STEPS), description="demo data: already loaded")
    demo_data.run_every_job(url, runner, lambda job, result: out.print(result or job, highlight=False))
    demo_data.deliver(url, transport, once=True)
    summary = demo_data.summary(url)
    now = {kind: sent - before.get(kind, 0) for kind, sent in summary.sent_by_kind.items()}
    table = Table("kind", "sent now", "in all", "a subject", title="Emails: sent by this run, and in all",
                  title_justify="left")
    for kind, sent in summary.sent_by_kind.items():
        table.add_row(kind, str(now[kind]), str(sent), summary.subjects.get(kind, ""))
    table.add_row("total", str(sum(now.values())), str(sum(summary.sent_by_kind.values())), "", style="bold")
    out.print(table)
    if not any(now.values()):
        out.print("no new email this run: the jobs found no new fact (each is sent once), so nothing was sent again",
                  highlight=False)
    day = summary.last_day
    if day:
        p95 = "n/a" if day["response_time_p95_ms"] is None else f"{day['response_time_p95_ms']:,.0f} ms"
        out.print(f"PAM on {day['day']}: {day['messages']:,} messages, success rate {formats.rate(day['success_rate'])}, "
                  f"p95 {p95}", highlight=False)
    if summary.success:
        out.print(success_table(summary.success, f"Success since activation "
                                                  f"({summary.success[0]['since']:%Y-%m-%d %H:%M} UTC)"))
    where = transport.folder.resolve() if transport.name == "outbox" else "Resend"
    out.print(f"emails went to {where}", highlight=False)


@app.command()
def demo(database_url: DatabaseUrl = None, outbox_dir: OutboxDir = None, force: Force = False,
         resend: SendWithResend = False) -> None:
    """Load the demo data set (once per database), run every job once, deliver to the outbox, summarise.

    Running it again adds no data and sends no email twice. The embedded database only, unless --force.
    """
    url = _demo_url(database_url, force)
    _demo(url, _transport(outbox_dir, resend), "wheels demo")


@app.command()
def up(database_url: DatabaseUrl = None, outbox_dir: OutboxDir = None, force: Force = False,
       resend: SendWithResend = False) -> None:
    """Run the whole system here: the embedded database, migrations, the demo, then `sender drain`.

    The embedded cluster is started, migrated with the demo source (pg_cron schedules the jobs in it),
    loaded with the demo data on first run, and every job runs once; then the sender delivers to the
    outbox folder in the foreground while pg_cron fires the jobs on their schedules. Ctrl-C (or SIGTERM)
    stops the sender cleanly; the database keeps running (`cli.py db stop`).
    """
    logs.setup("WARNING", "text")
    url = _demo_url(database_url, force)
    transport = _transport(outbox_dir, resend)
    # Until the sender takes over SIGINT/SIGTERM, either one interrupts the set-up (its
    # transactions roll back) and the command still ends cleanly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for change in migrations.migrate(url, "demo" if database_url is None else None):
            out.print(change, highlight=False)
        _demo(url, transport, "wheels up")
        where = f"new emails appear in {transport.folder.resolve()}" if transport.name == "outbox" else "emails go to Resend"
        out.print(f"sender drain is running ({where}); `{CLI} status` in another terminal shows the system; "
                  "Ctrl-C stops.", highlight=False)
        demo_data.deliver(url, transport, once=False)
    except KeyboardInterrupt:
        pass
    out.print("stopped")


# -- activation ---------------------------------------------------------------


def _when(value: str) -> datetime:
    """now, a date (midnight UTC) or an ISO time (UTC unless it says otherwise), not in the future."""
    if value == "now":
        return datetime.now(timezone.utc)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: give now, a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM[+HH:MM]") from None
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    if when > datetime.now(timezone.utc):
        raise typer.BadParameter(f"{value!r} is in the future: the metrics would count nothing")
    return when


@app.command()
def activation(
    set_: Annotated[Optional[datetime], typer.Option(
        "--set", parser=_when, metavar="WHEN",
        help="Move it: now, a date (YYYY-MM-DD, midnight UTC) or a time (2026-11-02T09:00+10:00).")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """When wheels-jobs went live: the success metrics (`report`, /dashboard, the daily report) count from it.

    `migrate` sets it on the first install (the demo, to the start of its history); move it with --set,
    e.g. to when real users arrived, or past a rocky start.
    """
    at, changed_at = reports.activation(_database(database_url), set_)
    ago = datetime.now(timezone.utc) - at
    out.print(f"activated {at.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC ({ago.days} day{'' if ago.days == 1 else 's'} ago)"
              + (", just set" if set_ else f", set {changed_at.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"),
              highlight=False)


def main() -> None:
    run_cli(app)


if __name__ == "__main__":
    main()
