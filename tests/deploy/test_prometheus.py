"""Prometheus configuration, recording and alerting rules (promtool + structural checks)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.deploy.helpers import (
    DEPLOY,
    RULES_FILE,
    exported_metric_names,
    find_tool,
    is_known_metric,
    promql_metric_names,
    recording_rule_names,
    run,
)

PROMETHEUS_DIR = DEPLOY / "prometheus"
CONFIGS = [PROMETHEUS_DIR / "prometheus.yml", PROMETHEUS_DIR / "prometheus-k8s.yml"]
RULE_TESTS = PROMETHEUS_DIR / "tests" / "creativeops.rules.test.yml"
RUNBOOK = DEPLOY / "RUNBOOK.md"

# The alerts the platform asked for, by what they watch.
REQUIRED_ALERTS = {
    "CreativeOpsNoReadyWebPod": 'up{job="creativeops-web"}',
    "CreativeOpsHigh5xxRate": "0.05",
    "CreativeOpsPredictLatencyHigh": "prediction_latency_seconds",
    "CreativeOpsNightlyPipelineMissing": (
        "time() - max(creativeops_pipeline_last_success_timestamp_seconds) > 26 * 3600"
    ),
    "CreativeOpsDriftHigh": "creativeops_drift_max_psi) > 0.2",
    "CreativeOpsCandidateWaitingTooLong": "creativeops_candidate_oldest_waiting_seconds) > 3 * 86400",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    tool = find_tool("promtool")
    if tool is None:
        pytest.skip("promtool is not installed (Debian/Ubuntu: apt-get install prometheus); CI installs it")
    return tool


@pytest.fixture(scope="module")
def rules() -> list[dict]:
    groups = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.fixture(scope="module")
def alerts(rules) -> dict[str, dict]:
    return {rule["alert"]: rule for rule in rules if "alert" in rule}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.name)
def test_promtool_check_config(promtool, config):
    result = run([promtool, "check", "config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout, "the config must load rules/*.yml"


def test_promtool_check_rules(promtool):
    result = run([promtool, "check", "rules", str(RULES_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule(promtool, tmp_path):
    """The check above can fail: promtool refuses a rule with a PromQL syntax error."""
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(rate(foo[5m])\n")
    assert run([promtool, "check", "rules", str(broken)]).returncode != 0


def test_promtool_rule_unit_tests(promtool):
    """Each alert fires on a bad series and stays silent on a good one (deploy/prometheus/tests)."""
    result = run([promtool, "test", "rules", str(RULE_TESTS)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_cover_every_alert(alerts):
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    assert set(alerts) <= tested, f"alerts without a promtool unit test: {sorted(set(alerts) - tested)}"


@pytest.mark.parametrize("name", sorted(REQUIRED_ALERTS))
def test_required_alert_exists(alerts, name):
    assert name in alerts
    assert REQUIRED_ALERTS[name] in " ".join(alerts[name]["expr"].split())


def test_alerts_are_annotated_with_a_runbook_that_exists(alerts):
    headings = set(re.findall(r"^###\s+(\S+)\s*$", RUNBOOK.read_text(encoding="utf-8"), re.MULTILINE))
    for name, rule in alerts.items():
        annotations = rule.get("annotations", {})
        assert {"summary", "description", "runbook_url"} <= set(annotations), name
        assert annotations["runbook_url"] == f"deploy/RUNBOOK.md#{name.lower()}", name
        assert name in headings, f"deploy/RUNBOOK.md has no '### {name}' section"
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name


def test_there_are_recording_rules(rules):
    recorded = [rule["record"] for rule in rules if "record" in rule]
    assert len(recorded) >= 2
    assert all(re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name) for name in recorded), recorded


def test_rules_use_only_exported_metrics(rules):
    exported, recorded = exported_metric_names(), recording_rule_names()
    for rule in rules:
        unknown = {m for m in promql_metric_names(rule["expr"]) if not is_known_metric(m, exported, recorded)}
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: not in deploy/metrics.txt: {unknown}"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.name)
def test_web_job_name_matches_the_alerts(config):
    jobs = [job["job_name"] for job in yaml.safe_load(config.read_text(encoding="utf-8"))["scrape_configs"]]
    assert "creativeops-web" in jobs
