"""`manage.py benchmark_inference`: every measurement runs and is reported, in a sandbox that leaves the
real database alone."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from registry.models import ModelVersion


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_benchmark_measures_raw_api_http_and_batch_on_a_given_artifact(tiny_artifact, tmp_path):
    out = StringIO()
    report_path = tmp_path / "report.json"

    call_command(
        "benchmark_inference",
        "--artifact", str(tiny_artifact),
        "--requests", "5",
        "--batch-size", "4",
        "--max-new-tokens", "8",
        "--json", str(report_path),
        stdout=out,
        stderr=StringIO(),
    )  # fmt: skip

    text = out.getvalue()
    for line in (
        "raw CreativeGenerator.generate",
        "POST /api/v1/predict in process",
        "POST /api/v1/predict over HTTP (gunicorn)",
        "API p50 / raw p50, in process:",
        "API p50 / raw p50, over HTTP:",
        "batch throughput / sequential:",
    ):
        assert line in text
    report = json.loads(report_path.read_text())
    assert report["model"].startswith("artifact (tiny, ")
    assert report["raw"]["n"] == report["api_in_process"]["n"] == report["api_http"]["n"] == 5
    assert report["batch_size"] == 4
    ratios = report["ratios"]
    assert set(ratios) >= {
        "api_in_process_over_raw_p50",
        "api_http_over_raw_p50",
        "batch_over_sequential_throughput",
    }
    assert all(value > 0 for value in ratios.values())
    # The sandbox had its own database: nothing was registered here.
    assert not ModelVersion.objects.exists()


def test_benchmark_refuses_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(CommandError, match="--artifact: .*manifest is missing"):
        call_command("benchmark_inference", "--artifact", str(tmp_path), stdout=StringIO())
