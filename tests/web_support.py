"""Helpers for the web service tests: tokens, Svix-signed webhook deliveries
(signed here from Svix's documented scheme, independently of the verifier under
test), and a real `cli.py web` process on a free loopback port."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from wheels_core import tokens
from tests.sender_support import wait_for
from wheels_jobs.embedded import PROJECT_ROOT

UNSUBSCRIBE_SECRET = "test-secret"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"webhook-secret-for-tests-32bytes").decode()
ENV = {"UNSUBSCRIBE_SECRET": UNSUBSCRIBE_SECRET, "RESEND_WEBHOOK_SECRET": WEBHOOK_SECRET}


def token(user_id: str, kind: str = "budget_alerts", *, secret: str = UNSUBSCRIBE_SECRET,
          issued_at: int | None = None) -> str:
    return tokens.sign(user_id, kind, secret.encode(), issued_at=issued_at)


def signed(event: dict | bytes, *, svix_id: str = "msg_1", timestamp: int | None = None,
           secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a Svix delivery of `event` (a dict, or the raw JSON body itself)."""
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{svix_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return body, {"svix-id": svix_id, "svix-timestamp": ts, "svix-signature": "v1," + base64.b64encode(mac).decode(),
                  "content-type": "application/json"}


def bounce(to: str, email_id: str = "re_1", bounce_type: str = "Permanent") -> dict:
    """A Resend email.bounced event, shaped like Resend's documentation."""
    return {"type": "email.bounced", "created_at": "2026-11-30T08:00:00.000Z",
            "data": {"email_id": email_id, "from": "Wheels <noreply@wheels.local>", "to": [to],
                     "subject": "Fuel: 82.5% of your November 2026 budget used",
                     "created_at": "2026-11-30T07:59:58.000Z",
                     "bounce": {"type": bounce_type, "subType": "General", "message": "mailbox does not exist"}}}


@contextmanager
def web_server(url: str, log: Path, **env: str):
    """A real `python cli.py web --port 0` on 127.0.0.1; yields its base URL."""
    full_env = {**{k: v for k, v in os.environ.items() if k != "WEB_PORT"}, **ENV, "DATABASE_URL": url, **env}
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "cli.py"), "web", "--port", "0"], env=full_env,
                                cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=err)
    try:
        def started():
            assert proc.poll() is None, log.read_text()
            return re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", log.read_text())
        yield wait_for(started, timeout_s=30, interval_s=0.05).group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
