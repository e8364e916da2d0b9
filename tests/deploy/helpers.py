"""Shared helpers of the deploy tests: repository paths, tool lookup, and PromQL metric names."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
METRICS_FILE = DEPLOY / "metrics.txt"
RULES_FILE = DEPLOY / "prometheus" / "rules" / "creativeops.rules.yml"

# Series every Prometheus has, whatever the target exports.
STANDARD_METRICS = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMQL_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
    "atan2",
    "inf",
    "nan",
}


def find_tool(name: str) -> str | None:
    """A command-line tool from this interpreter's environment first (the venv's bin), then PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which(name)


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)


def entrypoint_commands() -> set[str]:
    """The subcommands deploy/entrypoint.sh knows (its `case` labels)."""
    text = (DEPLOY / "entrypoint.sh").read_text(encoding="utf-8")
    return set(re.findall(r"^\s{2}([a-z][a-z-]*)\)\s*$", text, re.MULTILINE))


# --- metric names --------------------------------------------------------------------------------


def exported_metric_names() -> set[str]:
    """deploy/metrics.txt: one exported metric name per line."""
    lines = METRICS_FILE.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip()}


def recording_rule_names() -> set[str]:
    groups = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels and numbers left out).

    Handles what dashboards and rules here use: label matchers, ranges and subqueries, by/without/on/
    ignoring/group_left/group_right clauses, Grafana variables ($__rate_interval, ${var}).
    """
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", text)
    names = set()
    token = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*|[A-Za-z_:][A-Za-z0-9_:]*")
    for match in token.finditer(text):
        word = match.group()
        if word[0].isdigit() or word.lower() in PROMQL_KEYWORDS:
            continue
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation operator
        names.add(word)
    return names


def is_known_metric(name: str, exported: set[str], recorded: set[str]) -> bool:
    """Whether ``name`` is exported (as listed in metrics.txt, or a histogram's _bucket/_sum/_count
    series of a listed histogram), recorded by our rules, or a Prometheus standard series.

    Counters are listed with their exported ``_total`` name, so ``_total`` is never stripped (a dashboard
    that drops or doubles the suffix selects nothing and is caught here) and a counter has no histogram
    series. metrics.txt carries no types, so a gauge's name with a histogram suffix is not caught.
    """
    if name in exported or name in recorded or name in STANDARD_METRICS:
        return True
    for suffix in HISTOGRAM_SUFFIXES:
        base = name[: -len(suffix)]
        if name.endswith(suffix) and base in exported and not base.endswith("_total"):
            return True
    return False
