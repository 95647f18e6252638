"""One direction of dependencies (docs/ARCHITECTURE.md, invariant 12): wheels_core
imports none of ours; sender and web import wheels_core only, never each other;
the operator app (wheels_jobs, cli.py) may import all of them. Every import
counts, at the top of a module or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

from wheels_jobs.embedded import PROJECT_ROOT

# A package may import its own modules and those of lower layers only.
LAYER = {"wheels_core": 0, "sender": 1, "web": 1, "wheels_jobs": 2, "cli": 3}


def imported_packages(source: str) -> set[str]:
    """The top-level packages of ours a module's source imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in LAYER)
    return found


def violations(package: str, source: str) -> list[str]:
    return sorted(other for other in imported_packages(source)
                  if other != package and LAYER[other] >= LAYER[package])


def modules() -> list[tuple[str, Path]]:
    found = [("cli", PROJECT_ROOT / "cli.py")]
    for package in ("wheels_core", "sender", "web", "wheels_jobs"):
        found += [(package, path) for path in sorted((PROJECT_ROOT / package).glob("*.py"))]
    return found


def test_no_package_imports_a_package_above_or_beside_it():
    upward = {str(path.relative_to(PROJECT_ROOT)): bad for package, path in modules()
              if (bad := violations(package, path.read_text()))}
    assert upward == {}


def test_the_rule_sees_imports_at_the_top_and_inside_functions():
    assert violations("sender", "from web.store import Store\n") == ["web"]
    assert violations("wheels_core", "def f():\n    import wheels_jobs.migrate\n") == ["wheels_jobs"]
    assert violations("web", "from wheels_core import db\nimport web.charts\n") == []
    assert violations("wheels_jobs", "from sender.drain import drain\nfrom web import app\n") == []
