"""A grouped bar chart as inline SVG, in the style of `training.charts.line_chart_svg`.

The drift report page draws, per feature, the expected (training data) and observed (live traffic)
share of every bucket side by side. No JavaScript, no chart library; every text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from training.charts import PALETTE, finite_number, nice_ticks, svg_no_data, svg_open, y_tick_lines

_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP = 56, 16, 46
_MIN_GROUP_WIDTH = 36
_ROTATE_LABELS_LONGER_THAN = 6  # characters; longer group labels are drawn slanted


def bar_chart_svg(
    groups: Mapping[str, Mapping[str, float | None]],
    width: int = 640,
    height: int = 260,
    title: str = "",
    *,
    y_label: str = "",
    value_format: str = "{:.1%}",
) -> SafeString:
    """An inline `<svg>` with one cluster of bars per group and one bar per series in each cluster.

    `groups` maps a group label (a bucket) to `{series name: value}`; series keep the order in which
    they first appear. A missing or non-finite value draws no bar. The plot widens to keep every bar
    readable when there are many groups. With no finite value at all the chart says "No data".
    """
    series = list(dict.fromkeys(name for values in groups.values() for name in values))
    cleaned = {
        str(group): [finite_number(values.get(name)) for name in series] for group, values in groups.items()
    }
    finite = [value for values in cleaned.values() for value in values if value is not None]
    slanted = any(len(group) > _ROTATE_LABELS_LONGER_THAN for group in cleaned)
    margin_bottom = 86 if slanted else 44
    width = max(int(width), 160, _MARGIN_LEFT + _MARGIN_RIGHT + _MIN_GROUP_WIDTH * len(cleaned))
    height = max(int(height), 120)
    parts = svg_open("bar-chart", width, height, title)
    if not finite:
        return svg_no_data(parts, width, height, "No data")

    bottom = height - margin_bottom
    y_ticks = nice_ticks(min(0.0, *finite), max(finite))
    y_low, y_high = y_ticks[0], y_ticks[-1]

    def y_of(value: float) -> float:
        return _MARGIN_TOP + (bottom - _MARGIN_TOP) * (1 - (value - y_low) / (y_high - y_low))

    group_width = (width - _MARGIN_LEFT - _MARGIN_RIGHT) / len(cleaned)
    bar_width = group_width * 0.8 / max(len(series), 1)
    parts += _axes(y_ticks, y_of, width, bottom, y_label)
    for index, (group, values) in enumerate(cleaned.items()):
        left = _MARGIN_LEFT + group_width * index + group_width * 0.1
        for position, value in enumerate(values):
            if value is None:
                continue
            top, base = sorted((y_of(value), y_of(max(y_low, 0.0))))
            parts.append(
                f'<rect x="{left + bar_width * position:.1f}" y="{top:.1f}" width="{bar_width:.1f}" '
                f'height="{max(base - top, 0.5):.1f}" fill="{PALETTE[position % len(PALETTE)]}">'
                f"<title>{escape(group)} · {escape(series[position])}: "
                f"{escape(value_format.format(value))}</title>"
                "</rect>"
            )
        parts.append(_group_label(group, _MARGIN_LEFT + group_width * (index + 0.5), bottom, slanted))
    for position, name in enumerate(series):
        x = _MARGIN_LEFT + 10 + position * 150
        colour = PALETTE[position % len(PALETTE)]
        parts.append(
            f'<rect x="{x}" y="{_MARGIN_TOP - 20}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{_MARGIN_TOP - 11}" font-size="11" fill="#333">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped


def _axes(y_ticks: list[float], y_of, width: int, bottom: float, y_label: str) -> list[str]:
    parts = y_tick_lines(y_ticks, y_of, width)
    parts.append(
        f'<line x1="{_MARGIN_LEFT}" y1="{bottom:.1f}" x2="{width - _MARGIN_RIGHT}" y2="{bottom:.1f}" '
        'stroke="#999"/>'
        f'<line x1="{_MARGIN_LEFT}" y1="{_MARGIN_TOP}" x2="{_MARGIN_LEFT}" y2="{bottom:.1f}" stroke="#999"/>'
    )
    if y_label:
        middle = (_MARGIN_TOP + bottom) / 2
        parts.append(
            f'<text x="14" y="{middle:.1f}" transform="rotate(-90 14 {middle:.1f})" text-anchor="middle" '
            f'font-size="11" fill="#555">{escape(y_label)}</text>'
        )
    return parts


def _group_label(group: str, x: float, bottom: float, slanted: bool) -> str:
    text = escape(group if len(group) <= 24 else f"{group[:23]}…")
    if slanted:
        return (
            f'<text x="{x:.1f}" y="{bottom + 14:.1f}" transform="rotate(-35 {x:.1f} {bottom + 14:.1f})" '
            f'text-anchor="end" font-size="11" fill="#555">{text}</text>'
        )
    return (
        f'<text x="{x:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" font-size="11" fill="#555">'
        f"{text}</text>"
    )
