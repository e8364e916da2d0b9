"""The catalog refresh after a promotion: every product in every tone, and its asset sets, once per
version.

Progress counts creatives in every channel: 5 products x 4 tones in the generic channel, and as many
for each of the 2 channels with asset sets (a set is the product's creatives in every tone): 60.
"""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from inference.models import AssetSet, Creative, CreativeRefresh, PredictionLog
from inference.services import creatives_refresh, creatives_refresh_if_needed
from inference.tasks import creatives_refresh_check
from registry.models import ModelVersion
from tests.factories.products import ProductFactory
from tests.factories.registry import model_version_with_artifact

pytestmark = pytest.mark.django_db

TONES = ["bold", "luxury", "value", "playful"]
ASSET_SET_CHANNELS = ["google_search", "meta_feed"]
WORK = 5 * 4 * 3  # products x tones x (generic + 2 channels with asset sets)


@pytest.fixture
def catalog():
    return ProductFactory.create_batch(5)


def test_refresh_writes_every_product_in_every_tone(production_model, catalog):
    progress: list[tuple[int, int]] = []

    refresh = creatives_refresh(
        model_version_id=production_model.pk, batch_size=6, progress=lambda *p: progress.append(p)
    )

    assert (refresh.status, refresh.done, refresh.total, refresh.attempts) == ("succeeded", WORK, WORK, 1)
    assert refresh.started_at and refresh.finished_at
    pairs = sorted(Creative.objects.values_list("product_id", "tone"))
    assert pairs == sorted((product.pk, tone) for product in catalog for tone in TONES)
    assert set(Creative.objects.values_list("model_version", "source")) == {(production_model.pk, "refresh")}
    assert progress[-1] == (WORK, WORK)
    sets = sorted(AssetSet.objects.values_list("product_id", "channel", "model_version"))
    assert sets == sorted(
        (product.pk, channel, production_model.pk) for product in catalog for channel in ASSET_SET_CHANNELS
    )
    assert not PredictionLog.objects.exists()  # replaying the catalog is not a drift sample


def test_refresh_twice_writes_nothing_more(production_model, catalog):
    creatives_refresh(model_version_id=production_model.pk)
    first = list(Creative.objects.order_by("id").values_list("id", "headline"))
    sets = list(AssetSet.objects.order_by("id").values_list("id", "created_at"))

    again = creatives_refresh(model_version_id=production_model.pk)

    assert list(Creative.objects.order_by("id").values_list("id", "headline")) == first
    assert list(AssetSet.objects.order_by("id").values_list("id", "created_at")) == sets  # not rewritten
    assert (again.status, again.done, again.total, again.attempts) == ("succeeded", WORK, WORK, 2)


def test_refresh_continues_where_it_stopped(production_model, catalog):
    """A worker that died half-way: the rerun writes only what is missing."""
    creatives_refresh(model_version_id=production_model.pk)
    Creative.objects.filter(product=catalog[0]).delete()
    AssetSet.objects.filter(product=catalog[1], channel="meta_feed").delete()
    kept = set(AssetSet.objects.values_list("id", flat=True))

    refresh = creatives_refresh(model_version_id=production_model.pk)

    assert refresh.done == WORK
    assert Creative.objects.filter(product=catalog[0], source="refresh").count() == 4
    rewritten = AssetSet.objects.exclude(id__in=kept)
    assert list(rewritten.values_list("product", "channel")) == [(catalog[1].pk, "meta_feed")]


def test_api_creatives_do_not_count_as_refreshed(api, production_model, catalog):
    api.post("/api/v1/predict", {"sku": catalog[0].sku, "tone": "bold"}, format="json")

    refresh = creatives_refresh(model_version_id=production_model.pk)

    assert refresh.done == WORK
    assert Creative.objects.filter(product=catalog[0], tone="bold").count() == 2  # one api, one refresh


def test_a_set_the_api_wrote_with_the_version_is_not_written_again(api, production_model, catalog):
    api.post("/api/v1/asset_sets", {"sku": catalog[2].sku, "channel": "google_search"}, format="json")
    written = AssetSet.objects.get()

    refresh = creatives_refresh(model_version_id=production_model.pk)

    assert refresh.done == WORK
    assert AssetSet.objects.get(product=catalog[2], channel="google_search").created_at == written.created_at
    assert AssetSet.objects.count() == 10


def test_refresh_of_a_version_no_longer_in_production_is_superseded(tiny_artifact, catalog):
    archived = model_version_with_artifact(
        source=tiny_artifact, version=1, status=ModelVersion.Status.ARCHIVED
    )

    refresh = creatives_refresh(model_version_id=archived.pk)

    assert refresh.status == CreativeRefresh.Status.SUPERSEDED
    assert not Creative.objects.exists()


def test_refresh_failure_is_recorded(tiny_artifact, catalog):
    version = model_version_with_artifact(
        source=tiny_artifact, version=1, status=ModelVersion.Status.PRODUCTION
    )
    ModelVersion.objects.filter(pk=version.pk).update(artifact_sha256="0" * 64)

    with pytest.raises(Exception, match="could not be loaded"):
        creatives_refresh(model_version_id=version.pk)

    refresh = CreativeRefresh.objects.get()
    assert refresh.status == CreativeRefresh.Status.FAILED
    assert refresh.error.startswith("The production model could not be loaded: model v1 failed to load")
    assert refresh.finished_at is not None


def test_check_queues_the_refresh_once_per_version(
    production_model, catalog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queued = creatives_refresh_if_needed()
    with django_capture_on_commit_callbacks(execute=True) as again:
        second = creatives_refresh_if_needed()

    assert queued is not None and second is None
    assert len(callbacks) == 1 and len(again) == 0
    refresh = CreativeRefresh.objects.get()
    assert (refresh.model_version, refresh.status, refresh.done) == (production_model, "succeeded", WORK)
    assert Creative.objects.count() == 20


def test_check_requeues_a_failed_refresh_a_bounded_number_of_times(
    production_model, django_capture_on_commit_callbacks
):
    CreativeRefresh.objects.create(model_version=production_model, status="failed", attempts=3)
    assert creatives_refresh_if_needed() is None

    CreativeRefresh.objects.filter(model_version=production_model).update(attempts=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert creatives_refresh_if_needed() is not None
    assert len(callbacks) == 1


def test_check_without_production_does_nothing():
    assert creatives_refresh_if_needed() is None
    assert not CreativeRefresh.objects.exists()


def test_periodic_task_runs_the_check(production_model, catalog, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert creatives_refresh_check.apply().get() is True

    assert Creative.objects.count() == 20
    assert creatives_refresh_check.apply().get() is False


def test_command_with_wait_refreshes_here(production_model, catalog, capsys):
    call_command("refresh_creatives", "--wait", "--batch-size", "8")

    assert f"creative-generator v1: succeeded, {WORK} of {WORK} creatives written." in capsys.readouterr().out
    assert Creative.objects.count() == 20


def test_command_without_production_fails_clearly():
    with pytest.raises(
        CommandError, match="No version of creative-generator is in production: nothing to refresh."
    ):
        call_command("refresh_creatives")


def test_admin_shows_the_refresh_progress(admin_client, production_model):
    CreativeRefresh.objects.create(model_version=production_model, status="running", done=30, total=120)

    response = admin_client.get("/admin/inference/creativerefresh/")

    assert response.status_code == 200
    page = response.content.decode()
    assert '<progress max="120" value="30"' in page
    assert "30 / 120 (25.0%)" in page


def test_a_promotion_writes_the_new_versions_creatives_without_beat(
    tiny_artifact, catalog, operator_user, django_capture_on_commit_callbacks
):
    """Eager mode (no broker, `make run`): no beat runs, so the committed promotion itself queues the
    refresh, which runs in process; with workers the same signal queues the check at once."""
    from registry.services import model_version_promote

    candidate = model_version_with_artifact(source=tiny_artifact, version=7)

    with django_capture_on_commit_callbacks(execute=True):
        model_version_promote(version=candidate, actor=operator_user, reason="first model")

    refresh = CreativeRefresh.objects.get(model_version=candidate)
    assert (refresh.status, refresh.done, refresh.total) == ("succeeded", WORK, WORK)
    assert Creative.objects.filter(model_version=candidate).count() == 20
    assert AssetSet.objects.filter(model_version=candidate).count() == 10


def test_a_refresh_without_a_progress_callback_logs_its_progress(production_model, catalog, caplog):
    with caplog.at_level("INFO", logger="inference.services.refresh"):
        creatives_refresh(model_version_id=production_model.pk, batch_size=8)

    lines = [record.getMessage() for record in caplog.records if "written" in record.getMessage()]
    assert len(set(lines)) == len(lines)  # the closing count is logged once
    assert (
        lines[-1] == f"Creative refresh of {production_model.name} v{production_model.version}: "
        f"{WORK} / {WORK} written (100 %)"
    )
