"""The calendar-reading tests (marked `clock`) pass at the instants where dates
go wrong, not only today: each runs in its own pytest process with every clock
(this process's children, the test PostgreSQL server, pg_cron, the CLI and the
sender) moved to that instant together (tests/clock.py)."""

from __future__ import annotations

import subprocess

import pytest

from tests import clock
from wheels_jobs.embedded import PROJECT_ROOT

INSTANTS = {
    # The 1st of a month at 00:30 UTC (and of a year): still the previous month
    # in the Americas, a few hours into the new one in Australia.
    "month-and-year-turn": "2027-01-01T00:30:00Z",
    # The US leaves daylight saving time at 06:00 UTC (New York's 01:00 happens
    # twice) on the 1st of a month, when Los Angeles is still in October.
    "dst-change-on-the-1st": "2026-11-01T06:30:00Z",
    # The last minute of a year: the run crosses midnight UTC (and the new year) while it
    # goes, so a test that reads "today" twice sees two different days.
    "across-midnight": "2026-12-31T23:59:00Z",
}


@pytest.mark.parametrize("instant", INSTANTS.values(), ids=INSTANTS.keys())
def test_calendar_tests_pass_at(instant):
    done = subprocess.run(clock.pytest_argv("-m", "clock", "-q", "-x", "tests/"),
                          env=clock.env_at(clock.parse_instant(instant)),
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]
