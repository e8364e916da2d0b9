from __future__ import annotations

import re

from creativeops.monitoring.charts import bar_chart_svg


def test_bar_chart_draws_one_bar_per_group_and_series_with_a_legend():
    svg = bar_chart_svg(
        {"0–10": {"expected": 0.5, "observed": 0.1}, "10–25": {"expected": 0.5, "observed": 0.9}},
        title="Price",
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert len(re.findall(r"<rect [^>]*><title>", svg)) == 4
    assert "<title>10–25 · observed: 90.0%</title>" in svg
    assert ">expected</text>" in svg and ">observed</text>" in svg


def test_bar_chart_escapes_labels_and_skips_missing_values():
    svg = bar_chart_svg({"<script>alert(1)</script>": {"expected": 0.4, "observed": None}}, title="<b>x</b>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "<b>" not in svg
    assert len(re.findall(r"<rect [^>]*><title>", svg)) == 1


def test_bar_chart_without_values_says_so():
    assert "No data" in bar_chart_svg({}, title="Empty")
    assert "No data" in bar_chart_svg({"a": {"expected": None}})


def test_bar_chart_widens_for_many_groups():
    svg = bar_chart_svg({f"category-{index}": {"expected": 0.02} for index in range(50)}, width=320)
    width = int(re.search(r'width="(\d+)"', svg).group(1))
    assert width >= 50 * 36
