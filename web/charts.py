"""Server-rendered SVG charts for the dashboard: no JavaScript, no CDN, no library.

Each chart is one <svg role="img"> with a <title> (its accessible name) and a
<title> on every bar and point (a tooltip with the exact figure); the page puts
a data table next to it for anyone who cannot see it. Colours are CSS classes
(web/static/style.css, series s0..s7), because the pages' CSP allows no
inline styles. Text is escaped (markupsafe); labels come from the database.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

WIDTH = 720
# Room for the y labels (left), the x labels (bottom) and the legend (top).
LEFT, RIGHT, TOP, BOTTOM = 70, 12, 46, 26
PLOT_H = 158
LEGEND_ROW_PX = 16
LEGEND_CHAR_PX = 7  # about one character of the 11 px legend font
SERIES_CLASSES = 8
Y_TICKS = 4
# Tick sizes, times a power of ten: round numbers that keep the bars tall.
TICK_STEPS = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def _axis_max(value: float) -> float:
    """A round axis maximum at or above `value` whose Y_TICKS ticks are round too (integers at least 1)."""
    if value <= 0:
        return float(Y_TICKS)
    wanted = value / Y_TICKS
    power = 10 ** math.floor(math.log10(wanted))
    tick = next(step * power for step in TICK_STEPS if step * power >= wanted)
    return max(1, math.ceil(tick)) * Y_TICKS


def _frame(title: str, labels: Sequence[str], names: Sequence[str], y_max: float,
           y_format: Callable[[float], str], label_every: int) -> tuple[list[str], float]:
    """The svg opening, title, legend (wrapped onto more rows as needed), grid with
    y labels and x labels; and the y of the plot's top edge."""
    legend, x, row = [], 8, 0
    for i, name in enumerate(names):
        width = 22 + LEGEND_CHAR_PX * len(name)
        if x + width > WIDTH - RIGHT and x > 8:
            x, row = 8, row + 1
        y = 26 + LEGEND_ROW_PX * row
        legend.append(f'<rect class="s{i % SERIES_CLASSES}" x="{x}" y="{y}" width="10" height="10"/>'
                      f'<text class="legend" x="{x + 14}" y="{y + 9}">{escape(name)}</text>')
        x += width
    top = TOP + LEGEND_ROW_PX * row
    height = top + PLOT_H + BOTTOM
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
             f'<text class="title" x="8" y="18">{escape(title)}</text>', *legend]
    for i in range(Y_TICKS + 1):
        y = top + PLOT_H - PLOT_H * i / Y_TICKS
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{escape(y_format(y_max * i / Y_TICKS))}</text>')
    step = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for i, label in enumerate(labels):
        if i % label_every == 0:
            parts.append(f'<text class="axis" x="{LEFT + step * (i + 0.5):.1f}" y="{top + PLOT_H + 16}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    return parts, top


def line_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], *,
               y_format: Callable[[float], str] = lambda v: f"{v:,.0f}", y_max: float | None = None,
               label_every: int = 1) -> Markup:
    """One line per series over the x labels; None is a gap (no data that hour)."""
    highest = max((v for values in series.values() for v in values if v is not None), default=0)
    top = y_max if y_max is not None else _axis_max(highest)
    parts, plot_top = _frame(title, labels, list(series), top, y_format, label_every)
    step = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for i, (name, values) in enumerate(series.items()):
        css = f"s{i % SERIES_CLASSES}"
        points = [(LEFT + step * (j + 0.5), plot_top + PLOT_H - PLOT_H * min(v, top) / top, j, v)
                  for j, v in enumerate(values) if v is not None]
        runs: list[list[tuple]] = []
        for point in points:  # a missing value breaks the line
            if runs and point[2] == runs[-1][-1][2] + 1:
                runs[-1].append(point)
            else:
                runs.append([point])
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in run)
                parts.append(f'<polyline class="line {css}" points="{path}"/>')
        for x, y, j, v in points:
            parts.append(f'<circle class="point {css}" cx="{x:.1f}" cy="{y:.1f}" r="2.5">'
                         f'<title>{escape(name)} {escape(labels[j])}: {escape(y_format(v))}</title></circle>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[int]], *,
              label_every: int = 1) -> Markup:
    """Stacked bars: one bar per x label, one segment per series."""
    totals = [sum(values[j] for values in series.values()) for j in range(len(labels))]
    top = _axis_max(max(totals, default=0))
    parts, plot_top = _frame(title, labels, list(series), top, lambda v: f"{v:,.0f}", label_every)
    step = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    width = step * 0.7
    for j, label in enumerate(labels):
        base = plot_top + PLOT_H
        for i, (name, values) in enumerate(series.items()):
            if not values[j]:
                continue
            h = PLOT_H * values[j] / top
            base -= h
            parts.append(f'<rect class="bar s{i % SERIES_CLASSES}" x="{LEFT + step * j + (step - width) / 2:.1f}" '
                         f'y="{base:.1f}" width="{width:.1f}" height="{h:.1f}">'
                         f'<title>{escape(name)} {escape(label)}: {values[j]:,}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))
