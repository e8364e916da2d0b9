"""Small server-side SVG line charts for admin pages: no JavaScript, no chart library.

`line_chart_svg` draws one or more numeric series against their index (an epoch, a day, a version)
with axes, grid lines, tick labels and a legend. Every piece of text is escaped, and the result is a
`SafeString` that templates can print as it is. Used by the training-run page (loss curves) and by
other apps' dashboards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Colour-blind-safe palette (Okabe & Ito), cycled when there are more series.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 56, 16, 46, 44


def finite_number(value) -> float | None:
    """`value` as a float, or None when it is missing, not a number, NaN or infinite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values (1, 2, 2.5, 5 x 10^k steps) covering [low, high]."""
    if high <= low:
        spread = abs(low) * 0.1 or 1.0
        low, high = low - spread, high + spread
    raw_step = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def format_tick(value: float) -> str:
    """A short label for an axis tick value."""
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:.3g}"


def svg_open(css_class: str, width: int, height: int, title: str) -> list[str]:
    """The opening parts of a chart: the `<svg>` tag with its accessible label, a white background and
    the (escaped) title, if any. The caller appends its shapes and the closing `</svg>`."""
    label = escape(title or "Chart")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{label}">',
        f"<title>{label}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    if title:
        parts.append(
            f'<text x="{_MARGIN_LEFT}" y="18" font-size="13" font-weight="bold" fill="#333">'
            f"{escape(title)}</text>"
        )
    return parts


def svg_no_data(parts: list[str], width: int, height: int, message: str) -> SafeString:
    """The chart opened by `parts`, closed with `message` centred where the plot would be."""
    parts = [
        *parts,
        f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" font-size="12" '
        f'fill="#777">{escape(message)}</text></svg>',
    ]
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped


def y_tick_lines(y_ticks: Sequence[float], y_of, width: int) -> list[str]:
    """One horizontal grid line with its value label per tick, across the plot area."""
    parts = []
    for tick in y_ticks:
        y = y_of(tick)
        parts.append(
            f'<line x1="{_MARGIN_LEFT}" y1="{y:.1f}" x2="{width - _MARGIN_RIGHT}" y2="{y:.1f}" '
            'stroke="#e3e3e3"/>'
            f'<text x="{_MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#555">'
            f"{escape(format_tick(tick))}</text>"
        )
    return parts


def line_chart_svg(
    series: Mapping[str, Sequence[float | None]],
    width: int = 640,
    height: int = 260,
    title: str = "",
    *,
    x_label: str = "",
    x_start: int = 1,
) -> SafeString:
    """An inline `<svg>` with one polyline per series; point i is drawn at x = x_start + i.

    Missing or non-finite values (None, NaN) break the line instead of being drawn as zero. With no
    finite value at all the chart says "No data yet".
    """
    width, height = max(int(width), 160), max(int(height), 120)
    plot_width = width - _MARGIN_LEFT - _MARGIN_RIGHT
    plot_height = height - _MARGIN_TOP - _MARGIN_BOTTOM
    cleaned = {str(name): [finite_number(value) for value in values] for name, values in series.items()}
    finite = [value for values in cleaned.values() for value in values if value is not None]
    parts = svg_open("line-chart", width, height, title)
    if not finite:
        return svg_no_data(parts, width, height, "No data yet")

    y_ticks = nice_ticks(min(finite), max(finite))
    y_low, y_high = y_ticks[0], y_ticks[-1]
    longest = max((len(values) for values in cleaned.values()), default=1)
    x_span = max(longest - 1, 1)

    def x_of(index: int) -> float:
        offset = index if longest > 1 else 0.5
        return _MARGIN_LEFT + plot_width * offset / x_span

    def y_of(value: float) -> float:
        return _MARGIN_TOP + plot_height * (1 - (value - y_low) / (y_high - y_low))

    parts += _grid(y_ticks, y_of, x_of, longest, x_start, width, height, x_label)
    for position, (name, values) in enumerate(cleaned.items()):
        colour = PALETTE[position % len(PALETTE)]
        parts += _series_shapes(values, x_of, y_of, colour, name)
        parts += _legend_entry(position, name, colour)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped


def _grid(
    y_ticks, y_of, x_of, longest: int, x_start: int, width: int, height: int, x_label: str
) -> list[str]:
    bottom = height - _MARGIN_BOTTOM
    parts = y_tick_lines(y_ticks, y_of, width)
    # At most ~12 x labels, whatever the number of points.
    every = max(1, math.ceil(longest / 12))
    for index in range(0, longest, every):
        x = x_of(index)
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" font-size="11" fill="#555">'
            f"{x_start + index}</text>"
        )
    parts.append(
        f'<line x1="{_MARGIN_LEFT}" y1="{bottom}" x2="{width - _MARGIN_RIGHT}" y2="{bottom}" stroke="#999"/>'
        f'<line x1="{_MARGIN_LEFT}" y1="{_MARGIN_TOP}" x2="{_MARGIN_LEFT}" y2="{bottom}" stroke="#999"/>'
    )
    if x_label:
        parts.append(
            f'<text x="{_MARGIN_LEFT + (width - _MARGIN_LEFT - _MARGIN_RIGHT) / 2:.1f}" y="{height - 6}" '
            f'text-anchor="middle" font-size="11" fill="#555">{escape(x_label)}</text>'
        )
    return parts


def _series_shapes(values: list[float | None], x_of, y_of, colour: str, name: str) -> list[str]:
    parts, run = [], []
    points = [(x_of(index), y_of(value), value) for index, value in enumerate(values) if value is not None]
    for index, value in enumerate(values):
        if value is None:
            parts += _polyline(run, colour)
            run = []
        else:
            run.append((x_of(index), y_of(value)))
    parts += _polyline(run, colour)
    for x, y, value in points:
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}">'
            f"<title>{escape(name)}: {escape(f'{value:.4g}')}</title></circle>"
        )
    return parts


def _polyline(run: list[tuple[float, float]], colour: str) -> list[str]:
    if len(run) < 2:
        return []
    coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
    return [f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="2"/>']


def _legend_entry(position: int, name: str, colour: str) -> list[str]:
    x = _MARGIN_LEFT + 10 + position * 150
    return [
        f'<rect x="{x}" y="{_MARGIN_TOP - 16}" width="12" height="3" fill="{colour}"/>',
        f'<text x="{x + 16}" y="{_MARGIN_TOP - 12}" font-size="11" fill="#333">{escape(name)}</text>',
    ]
