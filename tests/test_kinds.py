"""The email-kind catalogue (wheels_core/kinds.py) is the one list the code uses, and it
agrees with the database's wheels.email_kinds; a process whose list differs from its
database's refuses to start, saying how."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import run_cli
from tests.sender_support import run_sender
from wheels_core import kinds, tokens
from wheels_core.errors import ConfigError
from web.app import PREFERENCES


def test_the_catalogue_is_the_databases(db_url):
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT kind, preference_kind FROM wheels.email_kinds").fetchall()
    assert dict(rows) == kinds.KINDS
    kinds.check(rows)


def test_every_user_of_the_list_follows_the_catalogue():
    assert tuple(PREFERENCES) == kinds.PREFERENCE_KINDS  # the preferences page
    assert {p for p in kinds.KINDS.values() if p} == set(kinds.PREFERENCE_KINDS)
    assert kinds.WITHOUT_UNSUBSCRIBE == ("welcome", "daily_report")
    for kind, preference in kinds.KINDS.items():  # what an unsubscribe token binds to
        if preference:
            assert tokens.preference_kind(kind) == preference
        else:
            with pytest.raises(ValueError):
                tokens.preference_kind(kind)


def test_a_difference_is_one_line_naming_it():
    rows = [*((k, p) for k, p in kinds.KINDS.items() if k != "daily_report"), ("weekly_digest", "daily_digest"),
            ("welcome", "daily_digest")]
    with pytest.raises(ConfigError, match=r"unknown here: weekly_digest; not in the database: daily_report; "
                                          r"another switch: welcome\): migrate the database"):
        kinds.check(rows)


def test_the_sender_refuses_a_database_with_other_kinds(db_url, tmp_path):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO wheels.email_kinds VALUES ('weekly_digest', 'daily_digest', 'a kind of a newer release')")
    done = run_sender(db_url, "--once", "--outbox-dir", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(
        "error: the email kinds of this code and of wheels.email_kinds differ (unknown here: weekly_digest)")


def test_the_web_service_refuses_a_database_with_other_kinds(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM wheels.email_kinds WHERE kind = 'daily_report'")
    done = run_cli("web", "--port", "0", env={"DATABASE_URL": db_url}, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(
        "error: the email kinds of this code and of wheels.email_kinds differ (not in the database: daily_report)")
