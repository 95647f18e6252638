"""Numbers as every process shows them, so emails, the dashboard and the CLI agree."""

from __future__ import annotations

import math


def percent(value: float) -> str:
    """A percentage, one way everywhere: one decimal (80.0%, 82.5%, 100.0%), truncated as the
    jobs truncate them, so 99.99% never reads 100.0% (the epsilon absorbs float noise:
    0.29 * 100 is 28.999...)."""
    return f"{math.floor(value * 10 + 1e-6) / 10:.1f}%"


def rate(fraction: float | None) -> str:
    """A fraction (0.9702) as a percentage (97.0%); n/a when there is none."""
    return "n/a" if fraction is None else percent(float(fraction) * 100)
