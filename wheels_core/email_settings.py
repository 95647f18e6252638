"""What every email and every link in it needs, shared by the sender (which signs
the links) and the web service (which verifies them): EMAIL_FROM,
UNSUBSCRIBE_BASE_URL and UNSUBSCRIBE_SECRET."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from wheels_core.addresses import CONTROL_CHARACTERS
from wheels_core.errors import ConfigError

DEFAULT_FROM = "Wheels <noreply@wheels.local>"
DEFAULT_UNSUBSCRIBE_BASE_URL = "http://127.0.0.1:8000/unsubscribe"
# Only for laptops and tests: links signed with it are worthless in production,
# which is why the Resend transport insists on a real UNSUBSCRIBE_SECRET.
DEV_SECRET = b"wheels-development-unsubscribe-secret"
DEV_SECRET_NOTE = ("UNSUBSCRIBE_SECRET is not set, so unsubscribe links are signed with a development key: "
                   "fine on this machine, but set it before sending real email")


@dataclass(frozen=True)
class EmailSettings:
    from_address: str  # EMAIL_FROM
    unsubscribe_base_url: str  # UNSUBSCRIBE_BASE_URL; the token goes in its `token` query parameter
    unsubscribe_secret: bytes  # UNSUBSCRIBE_SECRET: the sender signs links with it, the web service verifies them

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, require_secret: bool = False) -> EmailSettings:
        """EMAIL_FROM, UNSUBSCRIBE_BASE_URL, UNSUBSCRIBE_SECRET; ConfigError when one is unusable."""
        from_address = env.get("EMAIL_FROM") or DEFAULT_FROM
        if CONTROL_CHARACTERS.search(from_address) or "@" not in from_address:
            raise ConfigError(f"EMAIL_FROM {from_address!r} is not a usable From address")
        base_url = env.get("UNSUBSCRIBE_BASE_URL") or DEFAULT_UNSUBSCRIBE_BASE_URL
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or CONTROL_CHARACTERS.search(base_url) or " " in base_url:
            raise ConfigError(f"UNSUBSCRIBE_BASE_URL {base_url!r} is not an http(s) URL")
        secret = env.get("UNSUBSCRIBE_SECRET", "").encode()
        if not secret:
            if require_secret:
                raise ConfigError("UNSUBSCRIBE_SECRET is not set; it signs the unsubscribe links of real emails")
            secret = DEV_SECRET
        return cls(from_address, base_url, secret)

    @property
    def dev_secret(self) -> bool:
        """Links are signed with the development secret: each process says so once, in its own way
        (a log line from `sender drain` and `cli.py web`, a note before `demo` and `up` run)."""
        return self.unsubscribe_secret == DEV_SECRET
