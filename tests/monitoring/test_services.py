"""drift_report_create against a dataset version whose statistics the products service wrote."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from creativeops.console.views import DATABASE_GAUGES
from creativeops.core.errors import ApplicationError
from creativeops.core.metrics import metrics_payload
from creativeops.monitoring.models import DriftReport
from creativeops.monitoring.services import MIN_SAMPLE_SIZE, drift_report_create
from creativeops.pipeline.models import PipelineRun
from creativeops.pipeline.services import pipeline_start
from registry.models import ModelVersion
from tests.factories.monitoring import inputs_of_products, prediction_logs_make, shifted_inputs
from tests.factories.products import dataset_version_from_catalog
from tests.factories.registry import ModelVersionFactory

FEATURE_NAMES = ["category", "price", "title_length", "description_length"]

pytestmark = pytest.mark.django_db


def _most_common_category(catalog) -> str:
    return Counter(product.category for product in catalog).most_common(1)[0][0]


def test_traffic_like_the_training_data_is_not_drift(baseline, catalog):
    prediction_logs_make(model_version=baseline, inputs=inputs_of_products(catalog))
    now = timezone.now()

    report = drift_report_create(now=now)

    report.refresh_from_db()
    statistics = baseline.training_run.dataset_version.statistics
    assert report.model_version == baseline
    assert report.dataset_version == baseline.training_run.dataset_version
    assert (report.window_start, report.window_end) == (now - timedelta(hours=24), now)
    assert report.sample_size == len(catalog) == 120
    assert sorted(report.psi) == sorted(FEATURE_NAMES)
    assert report.max_psi == 0.0
    assert report.threshold == settings.CREATIVEOPS["DRIFT_PSI_THRESHOLD"] == 0.2
    assert (report.drifted, report.triggered_pipeline) == (False, False)
    features = {feature["name"]: feature for feature in report.details["features"]}
    assert [feature["name"] for feature in report.details["features"]] == FEATURE_NAMES
    assert [bucket["expected"] for bucket in features["price"]["buckets"]] == [
        bucket["share"] for bucket in statistics["price"]["buckets"]
    ]
    assert [bucket["observed"] for bucket in features["price"]["buckets"]] == [
        bucket["share"] for bucket in statistics["price"]["buckets"]
    ]
    assert {bucket["label"]: bucket["expected"] for bucket in features["category"]["buckets"]} == statistics[
        "category_shares"
    ]
    assert features["title_length"]["expected_summary"]["mean"] == statistics["title_length"]["mean"]
    assert features["title_length"]["observed_summary"]["mean"] == statistics["title_length"]["mean"]
    assert report.details["note"] == ""
    assert PipelineRun.objects.count() == 0


def test_shifted_traffic_is_drift_and_the_pipeline_stays_off_by_default(baseline, catalog):
    prediction_logs_make(
        model_version=baseline, inputs=shifted_inputs(80, category=_most_common_category(catalog))
    )

    report = drift_report_create()

    report.refresh_from_db()
    assert report.sample_size == 80
    assert report.drifted is True
    assert report.max_psi == max(report.psi.values())
    assert report.max_psi > settings.CREATIVEOPS["DRIFT_PSI_THRESHOLD"]
    for feature in FEATURE_NAMES:
        assert report.psi[feature] > 0.2, feature
    features = {feature["name"]: feature for feature in report.details["features"]}
    observed = {bucket["label"]: bucket["observed"] for bucket in features["price"]["buckets"]}
    assert observed["1000+"] == 1.0
    assert report.triggered_pipeline is False
    assert report.details["pipeline"] == {
        "run": None,
        "started": False,
        "message": "Not started: starting the pipeline on drift is off (setting DRIFT_TRIGGERS_PIPELINE).",
    }
    assert PipelineRun.objects.count() == 0


def test_the_gauges_read_the_latest_report(baseline, catalog):
    prediction_logs_make(model_version=baseline, inputs=shifted_inputs(60, category="toys"))
    report = drift_report_create()

    payload = metrics_payload(DATABASE_GAUGES)[0].decode()

    assert f'creativeops_drift_psi{{feature="price"}} {report.psi["price"]}' in payload
    assert f"creativeops_drift_max_psi {report.max_psi}" in payload


def test_a_category_the_model_never_saw_is_named(baseline, catalog):
    inputs = inputs_of_products(catalog)
    for item in inputs[:30]:
        item["category"] = "toys"
    prediction_logs_make(model_version=baseline, inputs=inputs)

    report = drift_report_create()

    category = report.details["features"][0]
    assert category["note"] == "Not in the training data: toys."
    assert category["buckets"][-1] == {"label": "toys", "expected": 0.0, "observed": 0.25}
    assert report.psi["category"] > 0.2
    assert report.psi["price"] < 0.2


def test_too_few_predictions_give_a_report_without_psi(baseline, catalog):
    prediction_logs_make(model_version=baseline, inputs=inputs_of_products(catalog[: MIN_SAMPLE_SIZE - 1]))

    report = drift_report_create()

    report.refresh_from_db()
    assert report.sample_size == 49
    assert (report.psi, report.max_psi, report.drifted, report.triggered_pipeline) == ({}, None, False, False)
    assert report.details["features"] == []
    assert report.details["note"] == (
        "Not enough predictions: 49 in the window, at least 50 are needed before the PSI means anything. "
        "No PSI was computed."
    )


def test_fifty_predictions_are_enough(baseline, catalog):
    prediction_logs_make(model_version=baseline, inputs=inputs_of_products(catalog[:MIN_SAMPLE_SIZE]))

    report = drift_report_create()

    assert report.sample_size == 50
    assert sorted(report.psi) == sorted(FEATURE_NAMES)
    assert report.max_psi is not None


def test_only_the_window_and_the_models_own_predictions_count(baseline, catalog):
    now = timezone.now()
    other = ModelVersionFactory(
        version=1,
        name="another-model",
        training_run__dataset_version=baseline.training_run.dataset_version,
        status=ModelVersion.Status.PRODUCTION,
    )
    shifted = shifted_inputs(60, category="toys")
    prediction_logs_make(model_version=baseline, inputs=shifted, created_at=now - timedelta(hours=25))
    prediction_logs_make(model_version=other, inputs=shifted, created_at=now - timedelta(hours=1))
    prediction_logs_make(model_version=baseline, inputs=shifted[:10], created_at=now - timedelta(hours=23))

    report = drift_report_create(now=now)

    assert report.sample_size == 10
    assert report.max_psi is None
    shorter = drift_report_create(now=now, window=timedelta(hours=26))
    assert shorter.sample_size == 70
    assert drift_report_create(model_name="another-model", now=now).sample_size == 60


def test_no_production_model_gives_no_report(db):
    dataset_version = dataset_version_from_catalog(products=20, seed=3)
    candidate = ModelVersionFactory(training_run__dataset_version=dataset_version)
    prediction_logs_make(model_version=candidate, inputs=shifted_inputs(60, category="toys"))

    assert drift_report_create() is None
    assert DriftReport.objects.count() == 0


def test_a_window_must_be_positive(baseline):
    with pytest.raises(ApplicationError) as error:
        drift_report_create(window=timedelta(0))
    assert error.value.message == "The drift window must be longer than zero; got 0:00:00."
    assert error.value.field == "window"


def test_a_dataset_version_without_statistics_is_said_so(baseline, catalog):
    dataset_version = baseline.training_run.dataset_version
    type(dataset_version).objects.filter(pk=dataset_version.pk).update(statistics={})
    prediction_logs_make(model_version=baseline, inputs=inputs_of_products(catalog))

    report = drift_report_create()

    assert report.max_psi is None and report.drifted is False
    assert report.details["note"] == (
        f"Dataset version v{dataset_version.number} has no statistics to compare with. No PSI was computed."
    )


def test_drift_starts_the_pipeline_when_the_setting_is_on(
    baseline, catalog, drift_triggers_pipeline, django_capture_on_commit_callbacks
):
    prediction_logs_make(model_version=baseline, inputs=shifted_inputs(80, category="toys"))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = drift_report_create()

    run = PipelineRun.objects.get()
    assert (run.trigger, run.status, run.model_name) == ("drift", "queued", baseline.name)
    assert len(callbacks) == 1  # the chain is queued after the commit, not run here
    report.refresh_from_db()
    assert report.drifted is True and report.triggered_pipeline is True
    assert report.details["pipeline"] == {
        "run": run.pk,
        "started": True,
        "message": f"Started pipeline run #{run.pk}.",
    }


def test_drift_below_the_threshold_does_not_start_the_pipeline(baseline, catalog, drift_triggers_pipeline):
    prediction_logs_make(model_version=baseline, inputs=inputs_of_products(catalog))

    report = drift_report_create()

    assert report.drifted is False and report.triggered_pipeline is False
    assert "pipeline" not in report.details
    assert PipelineRun.objects.count() == 0


def test_persistent_drift_starts_one_pipeline_per_cooldown(
    baseline, catalog, drift_triggers_pipeline, django_capture_on_commit_callbacks
):
    prediction_logs_make(model_version=baseline, inputs=shifted_inputs(80, category="toys"))
    with django_capture_on_commit_callbacks(execute=False):
        first = drift_report_create()
        run = PipelineRun.objects.get()
        PipelineRun.objects.filter(pk=run.pk).update(status=PipelineRun.Status.SUCCEEDED)
        second = drift_report_create()

    assert first.triggered_pipeline is True
    assert second.drifted is True and second.triggered_pipeline is False
    assert second.details["pipeline"]["started"] is False
    assert second.details["pipeline"]["message"] == (
        f"Not started: drift already started pipeline run #{run.pk} at {run.created_at:%Y-%m-%d %H:%M} UTC; "
        "drift starts at most one run per 24 h."
    )
    assert PipelineRun.objects.count() == 1

    later = drift_report_create(now=timezone.now() + timedelta(hours=25), window=timedelta(hours=26))
    assert later.triggered_pipeline is True
    assert PipelineRun.objects.filter(trigger="drift").count() == 2


def test_a_running_pipeline_is_not_started_twice(
    baseline, catalog, drift_triggers_pipeline, django_capture_on_commit_callbacks
):
    prediction_logs_make(model_version=baseline, inputs=shifted_inputs(80, category="toys"))
    with django_capture_on_commit_callbacks(execute=False):
        manual = pipeline_start(trigger=PipelineRun.Trigger.MANUAL)
        report = drift_report_create()

    skipped = PipelineRun.objects.get(trigger="drift")
    assert skipped.status == PipelineRun.Status.SKIPPED
    assert skipped.skipped_because_of == manual
    assert report.triggered_pipeline is False
    assert report.details["pipeline"] == {"run": skipped.pk, "started": False, "message": skipped.error}


def test_the_report_counts_requests_unlike_the_training_data(baseline, catalog):
    inputs = inputs_of_products(catalog)
    inputs[0].update(unseen_category=True, unseen_brand=True, unseen_vocabulary=True)
    inputs[1].update(unseen_brand=True)
    inputs[2].update(unseen_vocabulary=True)
    prediction_logs_make(model_version=baseline, inputs=inputs)

    report = drift_report_create()

    report.refresh_from_db()
    assert report.unlike_training_data == 3
    assert report.details["unlike_training_data"] == {"any": 3, "category": 1, "brand": 2, "vocabulary": 2}
