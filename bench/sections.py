"""docs/BENCHMARKS.md is shared: each benchmark owns one `## ...` section and rewrites only it."""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"


def write_section(section: str) -> None:
    """Replace the section headed by `section`'s first line (up to the next `## `), or append it."""
    heading = section.split("\n", 1)[0]
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    body = section.rstrip("\n") + "\n\n"
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + body
    BENCHMARKS_MD.write_text(text.rstrip("\n") + "\n")
