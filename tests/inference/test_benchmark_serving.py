"""`manage.py benchmark_serving`: our gunicorn and MLflow's server on one model, the same closed-loop
clients on each, in a sandbox that leaves the real database alone."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from registry.models import ModelVersion


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_both_servers_answer_the_same_clients_and_the_figures_are_reported(tiny_artifact, tmp_path):
    out = StringIO()
    report_path = tmp_path / "report.json"

    call_command(
        "benchmark_serving",
        "--artifact", str(tiny_artifact),
        "--clients", "1,3",
        "--seconds", "2",
        "--items", "5",
        "--max-new-tokens", "8",
        "--workers", "1",
        "--json", str(report_path),
        stdout=out,
        stderr=StringIO(),
    )  # fmt: skip

    text = out.getvalue()
    assert "Same first answer from both servers: yes" in text  # one model, served two ways
    assert "| clients | ours req/s | MLflow req/s | req/s ratio |" in text
    report = json.loads(report_path.read_text())
    assert report["same_first_answer"] is True
    assert report["mlflow_workers"] == 1 and report["items"] == 5 and report["max_new_tokens"] == 8
    assert [row["ours"]["clients"] for row in report["results"]] == [1, 3]
    for row in report["results"]:
        for server in ("ours", "mlflow"):
            figures = row[server]
            assert figures["errors"] == 0
            assert figures["requests"] > 0 and figures["requests_per_second"] > 0
            assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    assert "load average" in report["load_before"]
    assert not ModelVersion.objects.exists()  # the sandbox had its own database


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_experiments_benchmark_reports_each_condition_against_none(tiny_artifact, tmp_path):
    """--experiments: no experiment, a shadow and a canary on one model pair, started and stopped over
    the operator API of the server it measures; every condition answered, the ratios reported."""
    out = StringIO()
    report_path = tmp_path / "report.json"

    call_command(
        "benchmark_serving", "--experiments",
        "--artifact", str(tiny_artifact),
        "--clients", "2",
        "--seconds", "3",
        "--slices", "1",
        "--items", "5",
        "--max-new-tokens", "8",
        "--percent", "50",
        "--env", "MODEL_CHECK_INTERVAL_SECONDS=0.2",
        "--json", str(report_path),
        stdout=out,
        stderr=StringIO(),
    )  # fmt: skip

    assert "shadow/none p50 | canary/none p50" in out.getvalue()
    report = json.loads(report_path.read_text())
    assert report["percent"] == 50
    (run,) = report["results"]
    for condition in ("none", "shadow", "canary"):
        assert run[condition]["errors"] == 0 and run[condition]["requests"] > 0
    assert run["shadow_p50_ratio"] > 0 and run["canary_p50_ratio"] > 0
    # the tallies of the shadow: every request counted, about half drawn, some of them run
    assert run["shadow_requests"] >= run["shadow"]["requests"]
    assert 0 < run["shadow_drawn"] <= run["shadow_requests"] and 0 <= run["shadow_run"] <= run["shadow_drawn"]
    assert not ModelVersion.objects.exists()  # the sandbox had its own database


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--clients", "1,x"], "--clients must be comma-separated integers, got '1,x'."),
        (["--clients", "0,4"], "--clients: each count must be from 1 to 256, got '0,4'."),
        (["--seconds", "0"], "--seconds must be from 1 to 600."),
        (["--env", "GUNICORN_THREADS"], "--env takes NAME=VALUE, got 'GUNICORN_THREADS'."),
        (["--percent", "51"], "--percent must be from 1 to 50 (a canary answers at most half the clients)."),
    ],
)
def test_bad_options_are_refused_before_anything_starts(arguments, message):
    with pytest.raises(CommandError) as error:
        call_command("benchmark_serving", *arguments, stdout=StringIO())
    assert str(error.value) == message
