"""The project's error vocabulary. The CLIs print any of these as one line and exit 1."""

import sys
from collections.abc import Callable

import psycopg


class WheelsError(Exception):
    """Base of every expected failure; its message is meant for the operator."""


class ConfigError(WheelsError):
    """A setting is missing or malformed."""


class DatabaseUnavailable(WheelsError):
    """The database cannot be reached (down, wrong URL, wrong credentials)."""


class ClusterError(WheelsError):
    """The embedded PostgreSQL cluster could not be created, started or stopped."""


class MigrationError(WheelsError):
    """The schema could not be brought up to date."""


class JobError(WheelsError):
    """A scheduled job is unknown or failed when run by hand."""


def one_line(exc: BaseException) -> str:
    """The exception and its causes, outermost first, on one line."""
    parts: list[str] = []
    while exc is not None:
        text = " ".join(str(exc).split())
        if text and text not in parts:
            parts.append(text)
        exc = exc.__cause__
    return ": ".join(parts) or "unexpected error"


class NotFound(WheelsError):
    """The operator named something that does not exist (a dead letter id)."""


def run_cli(app: Callable[[], object]) -> None:
    """Run a CLI app (cli.py, sender); an expected failure prints one line on stderr and exits 1.

    A statement the database refused (a schema from another version, a permission) is one line
    too: its primary message, which names the object.
    """
    try:
        app()
    except WheelsError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        sys.exit(1)
    except psycopg.Error as exc:
        print(f"error: the database refused: {exc.diag.message_primary or one_line(exc)}", file=sys.stderr)
        sys.exit(1)
