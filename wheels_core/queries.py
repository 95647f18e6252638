"""Named SQL queries: a `.sql` file of `-- name: NAME` sections, loaded by name.

Call sites read `queries["claim_batch"]`; no module builds SQL strings.
"""

from __future__ import annotations

import re
from importlib import resources

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.M)


def parse(text: str) -> dict[str, str]:
    """Split a named-queries file into {name: sql}; a duplicate name is an error."""
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


def load(package: str, resource: str = "queries.sql") -> dict[str, str]:
    """The named queries shipped as `resource` in `package`."""
    return parse(resources.files(package).joinpath(resource).read_text(encoding="utf-8"))
