"""The README a new user follows: it names every variable the processes read, says
`.venv/bin/python cli.py` wherever it means this machine, and its pictures exist."""

from __future__ import annotations

import re

import cli
from sender import cli as sender_cli
from tests.test_cli_texts import commands
from tests.test_render_blueprint import option_variables, web_reads, worker_reads
from wheels_jobs.embedded import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
# Render installs the project into the service's own Python: its commands alone say `python cli.py`.
ON_RENDER = ("| `wheels-web` / `wheels-web-staging`", "| `wheels-sender-health` / `-staging`",
             "`python cli.py sender-health && curl", "there, and only there, the commands are `python cli.py",
             "(`python cli.py` with the system's)")


def test_the_readme_names_every_variable_the_processes_read():
    read = worker_reads() | web_reads()
    for app in (cli.app, sender_cli.app):
        for cmd in commands(app).values():
            read |= option_variables(cmd)
    missing = sorted(v for v in read if f"`{v}`" not in README)
    assert missing == [], f"README.md does not document {missing}"


def test_the_readme_runs_cli_py_with_the_virtualenv_except_on_render():
    bare = [line for line in README.splitlines()
            if re.search(r"(?<![\w./])python cli\.py", line) and not any(m in line for m in ON_RENDER)]
    assert bare == []
    assert "bash scripts/setup.sh && .venv/bin/python cli.py up" in README
    assert "installs PostgreSQL, the\nmatching pg_cron package and Chromium" in README


def test_the_readmes_pictures_and_gallery_exist():
    for target in re.findall(r"\]\((docs/[^)]+)\)", README) + ["docs/dashboard-390.png"]:
        assert (PROJECT_ROOT / target).is_file(), target
