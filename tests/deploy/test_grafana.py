"""The Grafana dashboard and its provisioning."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.deploy.helpers import (
    DEPLOY,
    exported_metric_names,
    find_tool,
    is_known_metric,
    promql_metric_names,
    recording_rule_names,
    run,
)

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# What the dashboard must show, by the metric that shows it.
REQUIRED_METRICS = {
    "requests": "django_http_requests_total_by_view_transport_method_total",
    "latency": "django_http_requests_latency_seconds_by_view_method_bucket",
    "5xx": "django_http_responses_total_by_status_total",
    "predictions by model version": "creativeops_predictions_total",
    "prediction latency": "creativeops_prediction_latency_seconds_bucket",
    "batch size": "creativeops_batch_size_bucket",
    "dynamic batcher rows per generation": "creativeops_batch_rows_bucket",
    "dynamic batcher queue wait": "creativeops_batch_queue_wait_seconds_bucket",
    "model loads": "creativeops_model_loads_total",
    "pipeline runs": "creativeops_pipeline_runs",
    "last success age": "creativeops_pipeline_last_success_timestamp_seconds",
    "production model metrics": "creativeops_production_model_metric",
    "drift PSI by feature": "creativeops_drift_psi",
}


def panels_of(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # panels inside collapsed rows
    return [panel for panel in panels if panel.get("type") != "row"]


def expressions(dashboard: dict) -> list[str]:
    return [target["expr"] for panel in panels_of(dashboard) for target in panel.get("targets", [])]


@pytest.fixture(scope="module", params=DASHBOARDS, ids=lambda path: path.name)
def dashboard(request) -> dict:
    return json.loads(request.param.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def provisioned_datasource_uids() -> set[str]:
    uids = set()
    for path in (GRAFANA / "provisioning" / "datasources").glob("*.yml"):
        for datasource in yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]:
            uids.add(datasource["uid"])
    return uids


def test_there_is_a_dashboard():
    assert [path.name for path in DASHBOARDS] == ["creativeops.json"]


def test_dashboard_structure(dashboard):
    assert dashboard["uid"] and dashboard["title"]
    panels = panels_of(dashboard)
    assert len(panels) >= 10
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_every_expression_uses_exported_metrics(dashboard):
    exported, recorded = exported_metric_names(), recording_rule_names()
    for expr in expressions(dashboard):
        names = promql_metric_names(expr)
        assert names, f"no metric found in {expr!r}"
        unknown = {name for name in names if not is_known_metric(name, exported, recorded)}
        assert not unknown, f"not in deploy/metrics.txt: {unknown} (in {expr!r})"


def test_metric_check_catches_a_wrong_name():
    """The check above can fail: a counter without its _total suffix or a made-up name is unknown."""
    exported, recorded = exported_metric_names(), recording_rule_names()
    assert not is_known_metric("creativeops_predictions", exported, recorded)
    assert not is_known_metric("creativeops_prediction_latency_seconds_total", exported, recorded)
    assert not is_known_metric("creativeops_predictions_total_bucket", exported, recorded)
    assert is_known_metric("creativeops_batch_size_count", exported, recorded)
    assert promql_metric_names('sum by (le) (rate(foo_bucket{a="b"}[5m])) / bar') == {"foo_bucket", "bar"}


@pytest.mark.parametrize("topic", sorted(REQUIRED_METRICS))
def test_dashboard_shows(dashboard, topic):
    used = {name for expr in expressions(dashboard) for name in promql_metric_names(expr)}
    assert REQUIRED_METRICS[topic] in used, f"no panel for {topic}"


def test_datasource_uid_is_provisioned(dashboard, provisioned_datasource_uids):
    referenced = set()
    for panel in panels_of(dashboard):
        referenced.add(panel["datasource"]["uid"])
        referenced.update(
            target["datasource"]["uid"] for target in panel["targets"] if "datasource" in target
        )
    assert referenced, "panels name no datasource"
    assert referenced <= provisioned_datasource_uids, referenced - provisioned_datasource_uids


def test_dashboard_provider_points_at_the_mounted_folder():
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "creativeops.yml").read_text())
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    assert entry["options"]["path"] == "/etc/grafana/dashboards"


def test_expressions_are_valid_promql(dashboard, tmp_path):
    """promtool parses every panel query (Grafana's $__ variables replaced by a duration)."""
    promtool = find_tool("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian/Ubuntu: apt-get install prometheus); CI installs it")
    rules = [
        {"record": f"dashboard:query:{index}", "expr": re.sub(r"\$__\w+", "5m", expr)}
        for index, expr in enumerate(expressions(dashboard))
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
