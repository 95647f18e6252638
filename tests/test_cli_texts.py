"""What a new user reads from the CLIs: a Python without the project's packages gets one line
saying what to run, every option says what it does, flags show no types, help re-flows, and the
usage errors say what to give (no database needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main

import cli
from sender import cli as sender_cli
from tests.conftest import run_cli
from wheels_jobs.embedded import PROJECT_ROOT


def commands(app) -> dict[str, object]:
    """Every click command of a typer app, by its full name."""
    found = {}

    def walk(cmd, path):
        subcommands = getattr(cmd, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
        else:
            found[" ".join(path)] = cmd

    walk(typer.main.get_command(app), [])
    return found


CLI_COMMANDS = commands(cli.app)


def test_a_python_without_the_packages_gets_one_line_saying_what_to_run():
    # -S: no site-packages, as with the system Python before `scripts/setup.sh`.
    done = subprocess.run([sys.executable, "-S", str(PROJECT_ROOT / "cli.py"), "up", "--outbox-dir", "my box"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60)
    assert done.returncode == 1 and done.stdout == "" and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert "lacks the project's packages (typer)" in done.stderr
    assert "run `.venv/bin/python cli.py up --outbox-dir 'my box'`" in done.stderr
    assert "bash scripts/setup.sh" in done.stderr


def test_every_option_and_argument_says_what_it_does():
    for app in (cli.app, sender_cli.app):
        for name, cmd in commands(app).items():
            assert cmd.help, name
            for param in cmd.params:
                assert getattr(param, "help", None), f"{name}: {param.name} has no help"


@pytest.mark.parametrize("argv", [["up", "--help"], ["dlq", "replay", "--help"], ["web", "--help"], ["--help"]])
def test_help_shows_no_types_on_flags_and_reflows_paragraphs(argv):
    done = run_cli(*argv, env={"COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    assert "<bool>" not in done.stdout and "<str>" not in done.stdout and "╭" not in done.stdout
    assert all(len(line) <= 100 for line in done.stdout.splitlines())
    if argv[0] == "up":
        # The docstring's own line breaks are gone: one paragraph, filled to the width.
        assert "in it),\n" not in done.stdout and "--database-url URL" in done.stdout
        assert "\n  --force " in done.stdout


def test_the_sender_help_shows_no_types_on_flags():
    done = subprocess.run([sys.executable, "-m", "sender.cli", "drain", "--help"], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=60)
    assert done.returncode == 0 and "<bool>" not in done.stdout and "--batch-size N" in done.stdout


@pytest.mark.parametrize("args, problem", [
    ([], "give the ids of the letters to replay (`dlq list`), or --all"),
    (["7", "--all"], "give letter ids or --all, not both"),
])
def test_dlq_replay_says_what_to_give(args, problem):
    done = run_cli("dlq", "replay", *args)
    assert done.returncode == 2 and problem in done.stderr


def test_activation_refuses_a_future_or_unreadable_time():
    for value, problem in (("2999-01-01", "is in the future"), ("soon", "give now, a date YYYY-MM-DD")):
        done = run_cli("activation", "--set", value)
        assert done.returncode == 2 and problem in done.stderr
