"""The demo data set: loads the realistic shape once, and a second load adds nothing."""

import psycopg
import pytest

from wheels_jobs.demo import DEMO_USERS, STEPS, load_demo_data

# Reads the calendar: also run at other instants (tests/test_any_instant.py).
pytestmark = pytest.mark.clock


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in STEPS}


def test_demo_data_loads_once_with_every_case_the_jobs_look_for(db_url):
    steps = []
    inserted = load_demo_data(db_url, lambda step, rows: steps.append(step))
    assert steps == STEPS
    assert inserted["profiles"] == DEMO_USERS
    assert counts(db_url) == inserted
    with psycopg.connect(db_url) as conn:
        zones = conn.execute("SELECT count(DISTINCT split_part(timezone, '/', 1)) FROM profiles").fetchone()[0]
        assert zones == 3  # Australia, America, Europe
        due_soon, overdue = conn.execute(
            "SELECT count(*) FILTER (WHERE due_date BETWEEN current_date AND current_date + 7),"
            "       count(*) FILTER (WHERE due_date < current_date)"
            " FROM maintenance_records WHERE completed_at IS NULL"
        ).fetchone()
        assert due_soon > 0 and overdue > 0
        failures = conn.execute(
            "SELECT count(*) FILTER (WHERE NOT success) FROM pam_analytics_logs WHERE event_type = 'response'"
        ).fetchone()[0]
        assert failures > 0

    assert load_demo_data(db_url) == {}
    assert counts(db_url) == inserted
