"""Log lines for a log view: text (the default) or one JSON object per line.

Every process logs one record per event: `action=<event> key=value ...` in the
message, or `extra={"action": ..., ...}`. With `--log-format json` (or
LOG_FORMAT=json) each record becomes one JSON object: time, level, logger, the
event name, its counts and ids as fields (the message's key=value pairs and the
record's extras) and the message. Neither format ever carries an email address
or an unsubscribe token: they are replaced before a line is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

from wheels_core.errors import ConfigError

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# Anything with an @ in it, well-formed or not (a bad address is still somebody's).
ADDRESS = re.compile(r"[^\s'\"<>(),;]*@[^\s'\"<>(),;]*")
TOKEN = re.compile(r"(token=)[A-Za-z0-9_.%-]+")
KEY_VALUE = re.compile(r"(?<![\w.])([a-z_][a-z0-9_]*)=([^\s,;:()]+)")
# What every LogRecord has: anything else on a record came in `extra`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def scrub(text: str) -> str:
    """text without email addresses or unsubscribe tokens."""
    return TOKEN.sub(r"\1<token>", ADDRESS.sub("<address>", text))


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class TextLines(logging.Formatter):
    """The default: one readable line per record, addresses and tokens replaced."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return scrub(" ".join(super().format(record).split("\n")))


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, event, its fields, message."""

    def format(self, record: logging.LogRecord) -> str:
        message = scrub(record.getMessage())
        fields = {key: _value(value) for key, value in KEY_VALUE.findall(message)}
        fields.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        event = fields.pop("action", None) or "log"
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "event": event}
        line.update({key: scrub(value) if isinstance(value, str) else value for key, value in fields.items()})
        line["message"] = message
        if record.exc_info:
            line["error"] = scrub(" ".join(self.formatException(record.exc_info).split()))
        return json.dumps(line, default=str, ensure_ascii=False)


def setup(level: str, log_format: str) -> None:
    """Root logging to stderr at `level`, in `log_format` (text or json); ConfigError otherwise."""
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"log format {log_format!r}: use text or json")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else TextLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    try:
        root.setLevel(level.upper())
    except ValueError:
        raise ConfigError(f"log level {level!r}: use DEBUG, INFO, WARNING or ERROR") from None
