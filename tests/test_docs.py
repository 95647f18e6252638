"""The docs say what the code does: docs/ADOPTING.md's contract table is the
contract migrate installs (wheels.source_contract), row for row."""

from __future__ import annotations

import re

import psycopg

from wheels_jobs.embedded import PROJECT_ROOT


def test_adopting_md_lists_the_source_contract_exactly(db_url):
    text = (PROJECT_ROOT / "docs" / "ADOPTING.md").read_text()
    documented = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \| `([^`]+)` \| (.+?) \|$", text, flags=re.M)
    with psycopg.connect(db_url) as conn:
        contract = conn.execute("SELECT relation, column_name, type, meaning FROM wheels.source_contract").fetchall()
    assert sorted(documented) == sorted(contract)
