"""The catalog's creatives for each new production version: queued once, written in batches, resumable.

After a promotion (or a rollback) marketers expect every product to have creatives by the model now
in production. `creatives_refresh_if_needed` runs every minute (Celery beat) and after a pipeline
run; it compares the production version with the `CreativeRefresh` rows and queues the refresh
task once per version. The refresh writes one creative per (product, tone) in batches on the model,
and each product's asset set of every channel that has them (`ASSET_SET_CHANNELS`). It skips what
is already written and relies on the `creative_refresh_once_per_version_tone` and
`asset_set_one_per_version_channel` constraints, so a redelivered or repeated task never writes a
creative or a set twice.

Progress counts creatives written, in every channel: a generic creative is one, an asset set is one
per tone (the creatives the model wrote for it), so `done / total` follows the generation work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from inference.model_manager import model_get
from inference.models import AssetSet, Creative, CreativeRefresh
from inference.services.asset_sets import ASSET_SET_CHANNELS, asset_sets_generate
from inference.services.generation import creatives_generate, generation_limits, product_item
from products.models import Product, Tone
from registry.models import ModelVersion
from registry.selectors import production_version

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
REFRESH_ENDPOINT = "refresh"

Progress = Callable[[int, int], None]


def creatives_refresh_if_needed(*, name: str | None = None) -> CreativeRefresh | None:
    """Queue the refresh for the production version of `name` unless it is done or under way.

    A refresh that failed is queued again up to MAX_ATTEMPTS times; one that stopped giving signs of
    life for STALE_RUN_MINUTES (its worker died) is queued again too. Returns the row when it queued.
    """
    name = name or settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]
    version = production_version(name)
    if version is None:
        return None
    with transaction.atomic():
        refresh, created = CreativeRefresh.objects.select_for_update().get_or_create(model_version=version)
        if not created and not _needs_queuing(refresh):
            return None
        refresh.status = CreativeRefresh.Status.QUEUED
        refresh.queued_at = timezone.now()
        refresh.error = ""
        refresh.save(update_fields=["status", "queued_at", "error"])
        transaction.on_commit(lambda: _enqueue(version.pk))
    logger.info("Creative refresh queued for %s v%s", version.name, version.version)
    return refresh


def _enqueue(model_version_id: int) -> None:
    from inference import tasks

    tasks.creatives_refresh.delay(model_version_id)


def _needs_queuing(refresh: CreativeRefresh) -> bool:
    status = CreativeRefresh.Status
    if refresh.status == status.FAILED:
        return refresh.attempts < MAX_ATTEMPTS
    if refresh.status in (status.QUEUED, status.RUNNING):
        stale_before = timezone.now() - timedelta(minutes=settings.CREATIVEOPS["STALE_RUN_MINUTES"])
        last_sign = refresh.heartbeat_at or refresh.queued_at or refresh.created_at
        return last_sign < stale_before
    return False


# Rows (products × tones) per generation call: on a 2-core CPU with the `small` model a batch of 64
# writes 107-119 rows/s, one of 32 67-94 rows/s, one of 128 no more than 64 (measured 2026-12-06).
REFRESH_BATCH_ROWS = 64


def creatives_refresh(
    *, model_version_id: int, batch_size: int = REFRESH_BATCH_ROWS, progress: Progress | None = None
) -> CreativeRefresh:
    """Write the creative of every product in every tone, and its asset sets, with version
    `model_version_id`.

    Products already done for this version are skipped, so a rerun continues where the last stopped.
    The version must still be in production: a refresh overtaken by another promotion stops as
    `superseded` (the newer version has its own refresh).
    """
    version = ModelVersion.objects.get(pk=model_version_id)
    progress = progress or _progress_log(version)
    refresh, _ = CreativeRefresh.objects.get_or_create(model_version=version)
    if version.status != ModelVersion.Status.PRODUCTION:
        return _finish(refresh, CreativeRefresh.Status.SUPERSEDED)
    batch_size = max(1, min(batch_size, generation_limits().max_batch))
    now = timezone.now()
    refresh.status = CreativeRefresh.Status.RUNNING
    refresh.started_at = refresh.started_at or now
    refresh.heartbeat_at = now
    refresh.attempts += 1
    refresh.total = _to_write()
    refresh.done = _written(version)
    refresh.error = ""
    refresh.save()
    if refresh.done >= refresh.total:
        # Nothing to write (an empty catalog, or all written): no reason to load the model here.
        return _finish(refresh, CreativeRefresh.Status.SUCCEEDED)
    try:
        loaded = model_get(name=version.name, check_now=True)
        if loaded.version_id != version.pk:
            raise ApplicationError(
                f"This process serves {version.name} v{loaded.version}, not v{version.version}; "
                "the refresh waits for the new version to load."
            )
        for chunk in _product_chunks(batch_size):
            if not _still_production(version):
                return _finish(refresh, CreativeRefresh.Status.SUPERSEDED)
            _refresh_chunk(version, chunk, batch_size)
            _refresh_asset_sets(version, chunk, batch_size)
            _heartbeat(refresh, version, progress)
    except Exception as error:
        message = error.message if isinstance(error, ApplicationError) else f"{type(error).__name__}: {error}"
        _finish(refresh, CreativeRefresh.Status.FAILED, error=message)
        raise
    refresh.total = _to_write()
    _heartbeat(refresh, version, progress)
    return _finish(refresh, CreativeRefresh.Status.SUCCEEDED)


def _product_chunks(size: int):
    """Products in primary-key order, `size` at a time, without holding the whole catalog in memory."""
    last_id = 0
    while True:
        chunk = list(Product.objects.filter(pk__gt=last_id).order_by("pk")[:size])
        if not chunk:
            return
        yield chunk
        last_id = chunk[-1].pk


def _refresh_chunk(version: ModelVersion, products: list[Product], batch_size: int) -> None:
    done = set(
        Creative.objects.filter(
            model_version=version, source=Creative.Source.REFRESH, product__in=products
        ).values_list("product_id", "tone")
    )
    pending = [
        (product, tone) for product in products for tone in Tone.values if (product.pk, tone) not in done
    ]
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        creatives_generate(
            items=[product_item(product) for product, _tone in batch],
            tone=[tone for _product, tone in batch],
            num_variants=1,
            endpoint=REFRESH_ENDPOINT,
            products=[product for product, _tone in batch],
            source=Creative.Source.REFRESH,
            model_name=version.name,
        )


def _refresh_asset_sets(version: ModelVersion, products: list[Product], batch_size: int) -> None:
    """The asset sets of `products` not yet written with `version` (the refresh's, or one an API
    request wrote with the same version), `batch_size` rows (products × tones) per generation."""
    done = set(
        AssetSet.objects.filter(
            model_version=version, channel__in=ASSET_SET_CHANNELS, product__in=products
        ).values_list("product_id", "channel")
    )
    per_call = max(1, batch_size // len(Tone.values))
    for channel in ASSET_SET_CHANNELS:
        pending = [product for product in products if (product.pk, channel) not in done]
        for start in range(0, len(pending), per_call):
            asset_sets_generate(
                products=pending[start : start + per_call],
                channel=channel,
                model_name=version.name,
                source=Creative.Source.REFRESH,
            )


def _to_write() -> int:
    """Creatives of the whole catalog: one per (product, tone) in the generic channel and in each
    channel with asset sets."""
    return Product.objects.count() * len(Tone.values) * (1 + len(ASSET_SET_CHANNELS))


def _written(version: ModelVersion) -> int:
    creatives = Creative.objects.filter(model_version=version, source=Creative.Source.REFRESH).count()
    asset_sets = AssetSet.objects.filter(model_version=version, channel__in=ASSET_SET_CHANNELS).count()
    return creatives + asset_sets * len(Tone.values)


def _still_production(version: ModelVersion) -> bool:
    return ModelVersion.objects.filter(pk=version.pk, status=ModelVersion.Status.PRODUCTION).exists()


PROGRESS_LOG_SECONDS = 10.0


def _progress_log(version: ModelVersion) -> Progress:
    """The refresh's progress in the log every PROGRESS_LOG_SECONDS: a worker's log, or the console of
    `make run`, where the first promotion writes the whole catalog in process."""
    last = {"at": time.monotonic(), "done": -1}

    def log(done: int, total: int) -> None:
        # The refresh reports once more after its last chunk: a count already logged is not repeated.
        now = time.monotonic()
        if done != last["done"] and (now - last["at"] >= PROGRESS_LOG_SECONDS or done >= total):
            last.update(at=now, done=done)
            share = done / total if total else 1.0
            logger.info("Creative refresh of %s v%s: %s / %s written (%.0f %%)",
                        version.name, version.version, f"{done:,}", f"{total:,}", 100 * share)  # fmt: skip

    return log


def _heartbeat(refresh: CreativeRefresh, version: ModelVersion, progress: Progress | None) -> None:
    refresh.done = _written(version)
    refresh.heartbeat_at = timezone.now()
    CreativeRefresh.objects.filter(pk=refresh.pk).update(
        done=refresh.done, total=refresh.total, heartbeat_at=refresh.heartbeat_at
    )
    if progress is not None:
        progress(refresh.done, refresh.total)


def _finish(refresh: CreativeRefresh, status: str, *, error: str = "") -> CreativeRefresh:
    refresh.status = status
    refresh.error = error
    refresh.finished_at = timezone.now()
    refresh.save(update_fields=["status", "error", "finished_at", "done", "total", "heartbeat_at"])
    if status == CreativeRefresh.Status.FAILED:
        logger.error("Creative refresh for %s failed: %s", refresh.model_version, error)
    return refresh
