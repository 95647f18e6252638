"""`sender`: deliver the email_intents queue (console script, see `sender drain --help`)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from sender.config import DEFAULT_POLL_INTERVAL_S, DEFAULT_VISIBILITY_TIMEOUT_S, MAX_BATCH, DrainConfig
from sender.drain import drain as run_drain
from sender.store import Store
from sender.transports import transport_from_env
from wheels_core import db, logs
from wheels_core.email_settings import DEV_SECRET_NOTE, EmailSettings
from wheels_core.errors import run_cli

log = logging.getLogger(__name__)

# Plain help (click's), as cli.py: no <bool> after flags, paragraphs re-flowed.
app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  rich_markup_mode=None, context_settings={"max_content_width": 120})


@app.callback()
def main_callback() -> None:
    """Deliver email intents to Resend (RESEND_API_KEY set) or to an outbox folder."""


@app.command()
def drain(
    database_url: Annotated[Optional[str], typer.Option(
        "--database-url", envvar="DATABASE_URL", show_envvar=True, metavar="URL",
        help="PostgreSQL URL, required (in production one for the wheels_sender role).")] = None,
    outbox_dir: Annotated[Optional[Path], typer.Option(
        "--outbox-dir", envvar="OUTBOX_DIR", metavar="DIR", help="Where .eml files go when RESEND_API_KEY is not set.")] = None,
    once: Annotated[bool, typer.Option(
        "--once", help="Drain until the queue is empty, then exit; an unreachable database is an error at once "
        "(without --once the sender waits for it).")] = False,
    rate_limit: Annotated[Optional[float], typer.Option(
        "--rate-limit", envvar="SENDER_RATE_LIMIT", min=0, metavar="PER_S",
        help="API requests per second for all senders together (0: none); default: wheels.settings.")] = None,
    no_rate_limit: Annotated[bool, typer.Option("--no-rate-limit", help="No request limit (benchmarks).")] = False,
    max_attempts: Annotated[Optional[int], typer.Option(
        "--max-attempts", envvar="SENDER_MAX_ATTEMPTS", min=1, metavar="N",
        help="Transient failures before an intent is dead-lettered; default: wheels.settings.")] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, max=MAX_BATCH, metavar="N",
        help="Emails per provider call (Resend's batch endpoint takes at most 100).")] = MAX_BATCH,
    visibility_timeout: Annotated[int, typer.Option(
        "--visibility-timeout", envvar="SENDER_VISIBILITY_TIMEOUT", min=1, metavar="SECONDS",
        help="Seconds a read message stays hidden from other senders.")] = DEFAULT_VISIBILITY_TIMEOUT_S,
    poll_interval: Annotated[float, typer.Option(
        "--poll-interval", envvar="SENDER_POLL_INTERVAL", metavar="SECONDS",
        help="Seconds between looks at the queue when no notification came.")] = DEFAULT_POLL_INTERVAL_S,
    retry_initial: Annotated[float, typer.Option(
        "--retry-initial", envvar="SENDER_RETRY_INITIAL", min=0, metavar="SECONDS",
        help="First backoff delay in seconds after a transient failure (doubles each time).")] = 1.0,
    log_level: Annotated[str, typer.Option(
        "--log-level", envvar="SENDER_LOG_LEVEL", metavar="LEVEL",
        help="Least severe log records written to stderr: DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    log_format: Annotated[str, typer.Option(
        "--log-format", envvar="LOG_FORMAT", metavar="text|json",
        help="One readable line per event, or one JSON object per line (for a log view).")] = "text",
) -> None:
    """Deliver the email_intents queue: long-running (waits for its database; SIGTERM/SIGINT stop it cleanly), or --once."""
    logs.setup(log_level, log_format)
    config = DrainConfig(
        once=once, rate_limit_per_s=0.0 if no_rate_limit else rate_limit, max_attempts=max_attempts,
        batch_size=batch_size, visibility_timeout_s=visibility_timeout, poll_interval_s=poll_interval,
        retry_initial_s=retry_initial,
    )
    transport = transport_from_env(os.environ, outbox_dir=outbox_dir)
    settings = EmailSettings.from_env(os.environ, require_secret=transport.name != "outbox")
    if settings.dev_secret:
        log.warning(DEV_SECRET_NOTE, extra={"action": "dev_secret"})
    run_drain(Store(db.require_url(database_url, "sender drain")), transport, settings, config)


def main() -> None:
    run_cli(app)


if __name__ == "__main__":
    main()
