"""Running the suite at a chosen instant: every clock moved together.

libfaketime (the PyPI build: Debian's 0.9.10 hangs Python's timed lock waits)
is preloaded into the pytest process and everything it starts: the test
PostgreSQL server (so now() and pg_cron), `cli.py`, `sender drain`, the web
service. FAKETIME is one fixed offset from the real clock, the same in every
process, so all of them agree on the time and it keeps running. Monotonic
clocks are left alone (timeouts and backoff stay real).

    .venv/bin/python -m tests.clock 2027-01-01T00:30:00Z -m clock

runs the tests marked `clock` at that instant (tests/test_any_instant.py does
this for the instants CI checks).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

# Set in a shifted run: conftest checks that the clocks really moved (tests/conftest.py).
AT_VARIABLE = "WHEELS_TEST_AT"


def parse_instant(text: str) -> datetime:
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        raise ValueError(f"{text!r}: give the instant with its offset, e.g. 2027-01-01T00:30:00Z")
    return instant


def faketime_library() -> Path:
    """A copy of libfaketime that the server's OS user can read (the venv may sit in root's home):
    one per build in a fixed folder, made once and replaced atomically (parallel workers share it)."""
    import libfaketime

    built = Path(libfaketime.__file__).parent / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"
    folder = Path(tempfile.gettempdir()) / f"wheels-faketime-{version('libfaketime')}"
    copy = folder / built.name
    if not copy.exists():
        folder.mkdir(exist_ok=True)
        folder.chmod(0o755)
        partial = folder / f"{built.name}.{os.getpid()}"
        shutil.copyfile(built, partial)
        partial.chmod(0o755)
        os.replace(partial, copy)
    return copy


def env_at(instant: datetime, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that makes a process and its children see `instant` now."""
    env = dict(os.environ if environ is None else environ)
    offset_s = round(instant.timestamp() - time.time())
    env.update({
        "LD_PRELOAD": " ".join(filter(None, [str(faketime_library()), env.get("LD_PRELOAD")])),
        "FAKETIME": f"{offset_s:+d}s",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        AT_VARIABLE: instant.isoformat(),
    })
    return env


def within_one_utc_day(seconds: float) -> None:
    """Return when the next `seconds` lie in one UTC day, sleeping past midnight if it is nearer:
    for a test whose claim holds within a day only (a day that begins rightly brings its own emails)."""
    left_s = 86_400 - time.time() % 86_400
    if left_s < seconds:
        time.sleep(left_s + 1)


def pytest_argv(*args: str) -> list[str]:
    """pytest in one process (no xdist: the shifted runs are small), without the project's addopts."""
    return [sys.executable, "-m", "pytest", "-o", "addopts=-ra", "-p", "no:cacheprovider", *args]


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit(__doc__)
    instant = parse_instant(argv[0])
    os.execve(sys.executable, pytest_argv(*argv[1:]), env_at(instant))


if __name__ == "__main__":
    main(sys.argv[1:])
