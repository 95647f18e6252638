"""Logs for a log view: with --log-format json (or LOG_FORMAT=json) a real
`sender drain` writes one JSON object per line, with the event name, counts and
ids, and no line of either format carries an email address or a token."""

from __future__ import annotations

import json
import logging

import psycopg
import pytest

from tests.sender_support import enqueue, run_sender, send_raw
from wheels_core import logs
from wheels_core.errors import ConfigError


def test_a_real_drain_logs_json_lines_without_personal_data(db_url, tmp_path):
    for n in range(3):
        enqueue(db_url, "welcome", f"user{n}@example.com")
    enqueue(db_url, "welcome", "broken@@example.com")  # dead-lettered: its reason names the address
    with psycopg.connect(db_url) as conn:
        send_raw(conn, {"v": 1, "kind": "welcome", "intent_id": "x", "to": "raw@example.com"})
    done = run_sender(db_url, "--once", "--outbox-dir", str(tmp_path), LOG_FORMAT="json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line is one JSON object
    events = [line["event"] for line in lines]
    assert events[0] == "start" and "batch" in events and events.count("dead_letter") == 2
    [batch] = [line for line in lines if line["event"] == "batch"]
    assert (batch["read"], batch["sent"], batch["dead_lettered"]) == (5, 3, 2)
    assert all({"time", "level", "logger", "event", "message"} <= set(line) for line in lines)
    assert "@" not in done.stderr and "example.com" not in done.stderr
    dead = [line for line in lines if line["event"] == "dead_letter"]
    assert any("<address>" in line["message"] for line in dead) and all(isinstance(d["msg_id"], int) for d in dead)


def record(message: str, *args, **extra) -> logging.LogRecord:
    made = logging.LogRecord("web.app", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_both_formats_drop_addresses_and_tokens():
    line = record("action=unsubscribe user=%s link=/unsubscribe?token=eyJhbGciOiJIUzI1.sig to %s",
                  "9b2e7c1a", "Ana.Souza+x@mail.example.com", kind="budget_alerts")
    parsed = json.loads(logs.JsonLines().format(line))
    assert parsed["event"] == "unsubscribe" and parsed["kind"] == "budget_alerts" and parsed["user"] == "9b2e7c1a"
    assert parsed["message"] == "action=unsubscribe user=9b2e7c1a link=/unsubscribe?token=<token> to <address>"
    text = logs.TextLines().format(line)
    assert "token=<token>" in text and "<address>" in text and "@" not in text and "eyJ" not in text


def test_an_unknown_format_is_a_config_error():
    with pytest.raises(ConfigError, match="log format 'xml': use text or json"):
        logs.setup("INFO", "xml")
