"""Whether an email address is one we can send to: used by the sender before
every email and by the operator app for ADMIN_EMAILS."""

from __future__ import annotations

import re

# C0/C1 controls plus the Unicode line and paragraph separators.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def address_problem(address: str) -> str | None:
    """Why `address` is not a plain addr-spec we can send to (RFC 5322 dot-atom, ASCII), or None.

    Deliberately pragmatic: no quoted local parts, comments, IP literals or
    internationalised addresses; they do not occur among the app's users.
    """
    if not address:
        return "empty"
    if len(address) > 254:
        return "longer than 254 characters"
    if CONTROL_CHARACTERS.search(address):
        return "contains control characters"
    if any(c.isspace() for c in address):
        return "contains whitespace"
    if address.count("@") != 1:
        return "needs exactly one @"
    local, domain = address.split("@")
    if not 1 <= len(local) <= 64:
        return "local part must have 1 to 64 characters"
    if not _LOCAL.fullmatch(local):
        return "local part has characters that are not allowed"
    labels = domain.split(".")
    if len(labels) < 2:
        return "domain has no dot"
    if not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        return "domain is not a valid host name"
    return None
