"""The demo source's wheels_source.log_pam_event, the demo app's producer call: one row per call, as
the app role; bad arguments are refused with the bad value named and log nothing."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.sender_support import logged_in_as

LOG = "SELECT wheels_source.log_pam_event(%s, %s, %s, %s, %s, %s)"


@pytest.fixture
def app_url(db_url):
    """db_url, connecting as wheels_app (roles are cluster-wide: LOGIN only for this test)."""
    with logged_in_as(db_url, "wheels_app") as url:
        yield url


def logged(url: str) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute("SELECT user_id, event_type, intent, response_time_ms, success, error "
                            "FROM pam_analytics_logs ORDER BY id").fetchall()


def test_the_app_role_logs_events_and_can_do_nothing_else(db_url, app_url):
    user = uuid.uuid4()
    with psycopg.connect(app_url, autocommit=True) as conn:
        conn.execute(LOG, [user, "message", "weather", None, None, None])
        conn.execute(LOG, [user, "response", "weather", 0, True, None])
        conn.execute(LOG, [None, "response", None, 31000, False, "upstream model timeout"])
        conn.execute("SELECT wheels_source.log_pam_event(%s, 'message')", [user])  # the optional arguments default to NULL
        for forbidden in ("SELECT * FROM pam_analytics_logs", "DELETE FROM pam_analytics_logs",
                          "INSERT INTO pam_analytics_logs (event_type) VALUES ('message')",
                          "SELECT * FROM analytics_daily", "SELECT wheels.daily_report()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(forbidden)
    assert [tuple(r.values()) for r in logged(db_url)] == [
        (user, "message", "weather", None, None, None), (user, "response", "weather", 0, True, None),
        (None, "response", None, 31000, False, "upstream model timeout"), (user, "message", None, None, None, None)]


@pytest.mark.parametrize("args, message", [
    ((None, "chat", None, None, None, None), "log_pam_event: unknown event_type 'chat', expected message or response"),
    ((None, "MESSAGE", None, None, None, None), "log_pam_event: unknown event_type 'MESSAGE'"),
    ((None, None, None, None, None, None), "log_pam_event: unknown event_type NULL"),
    ((None, "response", "weather", -1, True, None), "log_pam_event: response_time_ms -1 is negative"),
])
def test_bad_arguments_are_refused_naming_the_value_and_log_nothing(db_url, args, message):
    with psycopg.connect(db_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
            conn.execute(LOG, list(args))
    assert caught.value.diag.message_primary.startswith(message)
    assert logged(db_url) == []
