"""Server-rendered SVG charts for the dashboard: no JavaScript, no CDN, no library.

Each chart is one <svg role="img"> with a <title> (its accessible name) and a
<title> on every bar and point (a tooltip with the exact figure); the page puts
a data table next to it for anyone who cannot see it. Colours are CSS classes
(web/static/style.css, series s0..s7), because the pages' CSP allows no
inline styles. Text is escaped (markupsafe); labels come from the database.

Every chart is drawn twice, `responsive`: 720 user units wide for screens, and
360 for phones (fewer x labels, the legend wrapped), and the stylesheet shows
the one that fits, so the text stays readable at 11 px instead of shrinking
with the whole drawing. Both fill the page's width, like the tiles. An x label
may have two lines ("18h\\n30 Nov"). A chart with nothing to draw says "none".
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

WIDE, NARROW = 720, 360
# Room for the y labels (left), the x labels (bottom) and the legend (top).
LEFT, RIGHT, TOP, BOTTOM = 70, 12, 46, 26
LINE_PX = 13  # one more line of x labels
PLOT_H = 158
EMPTY_H = 90
LEGEND_ROW_PX = 16
LEGEND_CHAR_PX = 7  # about one character of the 11 px legend font
TITLE_CHAR_PX = 7.6  # about one character of the 13 px bold title; a longer title wraps
TITLE_LINE_PX = 16
SERIES_CLASSES = 8
Y_TICKS = 4
# Tick sizes, times a power of ten: round numbers that keep the bars tall.
TICK_STEPS = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
# Line charts: each series its own marker shape too, so lines that coincide stay
# distinguishable without colour (with the first series drawn as a wide band).
MARKERS = ("circle", "square", "diamond")


def _axis_max(value: float) -> float:
    """A round axis maximum at or above `value` whose Y_TICKS ticks are round too (integers at least 1)."""
    if value <= 0:
        return float(Y_TICKS)
    wanted = value / Y_TICKS
    power = 10 ** math.floor(math.log10(wanted))
    tick = next(step * power for step in TICK_STEPS if step * power >= wanted)
    return max(1, math.ceil(tick)) * Y_TICKS


def responsive(draw: Callable[[int], Markup]) -> Markup:
    """The chart `draw(width)` makes, for screens and for phones; CSS shows one."""
    return draw(WIDE) + draw(NARROW)


def _title_lines(title: str, width: int) -> list[str]:
    return textwrap.wrap(title, int((width - 16) / TITLE_CHAR_PX)) or [""]


def _open(title: str, width: int, height: float) -> str:
    """The svg opening with its accessible name and the visible title (wrapped to the width)."""
    size = "wide" if width == WIDE else "narrow"
    lines = "".join(f'<tspan x="8" dy="{0 if n == 0 else TITLE_LINE_PX}">{escape(line)}</tspan>'
                    for n, line in enumerate(_title_lines(title, width)))
    return (f'<svg class="chart {size}" viewBox="0 0 {width} {height:.0f}" role="img" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
            f'<text class="title" x="8" y="18">{lines}</text>')


def _head(title: str, width: int) -> int:
    """How much lower than usual the legend and the plot start: the title's extra lines."""
    return TITLE_LINE_PX * (len(_title_lines(title, width)) - 1)


def _empty(title: str, width: int, empty: str) -> Markup:
    """A chart with nothing to draw: its title and one word, no empty grid."""
    height = EMPTY_H + _head(title, width)
    return Markup(_open(title, width, height)
                  + f'<text class="empty" x="{width / 2:.0f}" y="{height / 2 + 14:.0f}" text-anchor="middle">'
                  f'{escape(empty)}</text></svg>')


def _legend(names: Sequence[str], width: int, head: int,
            swatch: Callable[[int, float, float], str]) -> tuple[list[str], int]:
    """The legend under the title, wrapped onto more rows as needed; and its number of extra rows."""
    legend, x, row = [], 8, 0
    for i, name in enumerate(names):
        item = 26 + LEGEND_CHAR_PX * len(name)
        if x + item > width - RIGHT and x > 8:
            x, row = 8, row + 1
        y = 26 + head + LEGEND_ROW_PX * row
        legend.append(swatch(i, x, y) + f'<text class="legend" x="{x + 22}" y="{y + 9}">{escape(name)}</text>')
        x += item
    return legend, row


def _frame(title: str, labels: Sequence[str], width: int, legend: list[str], rows: int, y_max: float,
           y_format: Callable[[float], str], label_every: int) -> tuple[list[str], float]:
    """The svg opening, title, legend, grid with y labels and x labels (one or two lines);
    and the y of the plot's top edge."""
    top = TOP + _head(title, width) + LEGEND_ROW_PX * rows
    lines = max((label.count("\n") + 1 for label in labels), default=1)
    height = top + PLOT_H + BOTTOM + LINE_PX * (lines - 1)
    parts = [_open(title, width, height), *legend]
    for i in range(Y_TICKS + 1):
        y = top + PLOT_H - PLOT_H * i / Y_TICKS
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{escape(y_format(y_max * i / Y_TICKS))}</text>')
    step = (width - LEFT - RIGHT) / max(len(labels), 1)
    for i, label in enumerate(labels):
        if i % label_every == 0:
            x = LEFT + step * (i + 0.5)
            spans = "".join(f'<tspan x="{x:.1f}" dy="{0 if n == 0 else LINE_PX}">{escape(line)}</tspan>'
                            for n, line in enumerate(label.split("\n")))
            parts.append(f'<text class="axis" x="{x:.1f}" y="{top + PLOT_H + 16}" text-anchor="middle">{spans}</text>')
    return parts, top


def _marker(shape: str, css: str, x: float, y: float, tip: str) -> str:
    title = f"<title>{tip}</title>" if tip else ""
    if shape == "square":
        return f'<rect class="point {css}" x="{x - 2.5:.1f}" y="{y - 2.5:.1f}" width="5" height="5">{title}</rect>'
    if shape == "diamond":
        return (f'<path class="point {css}" d="M{x:.1f} {y - 3.5:.1f}l3.5 3.5l-3.5 3.5l-3.5 -3.5z">{title}</path>')
    return f'<circle class="point {css}" cx="{x:.1f}" cy="{y:.1f}" r="2.5">{title}</circle>'


def line_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], *,
               width: int = WIDE, y_format: Callable[[float], str] = lambda v: f"{v:,.0f}",
               y_max: float | None = None, label_every: int = 1, empty: str = "none") -> Markup:
    """One line per series over the x labels; None is a gap (no data that hour). With several
    series the first is a wide translucent band under the others, and each has its own marker,
    so series that coincide (messages and responses) are both seen."""
    values_seen = [v for values in series.values() for v in values if v is not None]
    if not values_seen:
        return _empty(title, width, empty)
    top = y_max if y_max is not None else _axis_max(max(values_seen))
    banded = len(series) > 1

    def swatch(i: int, x: float, y: float) -> str:
        css = f"s{i % SERIES_CLASSES}" + (" band" if banded and i == 0 else "")
        return (f'<line class="line {css}" x1="{x + 3}" x2="{x + 15}" y1="{y + 5}" y2="{y + 5}"/>'
                + _marker(MARKERS[i % len(MARKERS)], f"s{i % SERIES_CLASSES}", x + 9, y + 5, ""))

    legend, rows = _legend(list(series), width, _head(title, width), swatch)
    parts, plot_top = _frame(title, labels, width, legend, rows, top, y_format, label_every)
    step = (width - LEFT - RIGHT) / max(len(labels), 1)
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
                parts.append(f'<polyline class="line {css}{" band" if banded and i == 0 else ""}" points="{path}"/>')
        for x, y, j, v in points:
            tip = f"{escape(name)} {escape(labels[j].replace(chr(10), ' '))}: {escape(y_format(v))}"
            parts.append(_marker(MARKERS[i % len(MARKERS)], css, x, y, tip))
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[int]], *, width: int = WIDE,
              label_every: int = 1, empty: str = "none") -> Markup:
    """Stacked bars: one bar per x label, one segment per series; `empty` when every bar is 0."""
    totals = [sum(values[j] for values in series.values()) for j in range(len(labels))]
    if not any(totals):
        return _empty(title, width, empty)
    top = _axis_max(max(totals))

    def swatch(i: int, x: float, y: float) -> str:
        return f'<rect class="s{i % SERIES_CLASSES}" x="{x + 4}" y="{y}" width="10" height="10"/>'

    legend, rows = _legend(list(series), width, _head(title, width), swatch)
    parts, plot_top = _frame(title, labels, width, legend, rows, top, lambda v: f"{v:,.0f}", label_every)
    step = (width - LEFT - RIGHT) / max(len(labels), 1)
    bar = step * 0.7
    for j, label in enumerate(labels):
        base = plot_top + PLOT_H
        for i, (name, values) in enumerate(series.items()):
            if not values[j]:
                continue
            h = PLOT_H * values[j] / top
            base -= h
            parts.append(f'<rect class="bar s{i % SERIES_CLASSES}" x="{LEFT + step * j + (step - bar) / 2:.1f}" '
                         f'y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                         f'<title>{escape(name)} {escape(label.replace(chr(10), " "))}: {values[j]:,}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))
