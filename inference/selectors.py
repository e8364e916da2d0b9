"""Reads of the inference app: products by sku, what is in production and what this process serves."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from creativeops.core.errors import ApplicationError
from inference.model_manager import ModelManager
from inference.services import generation_limits
from products.models import Product, Tone
from registry.selectors import production_version
from training.ml.channels import CHANNELS, DEFAULT_CHANNEL


def channel_list() -> dict:
    """The channel registry as the API shows it: every channel's fields with their limits."""
    return {"default": DEFAULT_CHANNEL, "channels": [channel.describe() for channel in CHANNELS.values()]}


def products_by_sku(skus: Iterable[str]) -> dict[str, Product]:
    return {product.sku: product for product in Product.objects.filter(sku__in=set(skus))}


def model_info(*, name: str | None = None) -> dict:
    """The production version (from the database) next to the version loaded in this process.

    The two differ for up to MODEL_CHECK_INTERVAL_SECONDS after a promotion, or for good when the new
    version failed to load here (`load_failure` then says why).
    """
    name = name or settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]
    manager = ModelManager.for_name(name)
    loaded, failure = manager.loaded, manager.failure
    limits = generation_limits()
    return {
        "model_name": name,
        "production": _production(name),
        "serving": loaded.describe() if loaded else None,
        "load_failure": failure.describe() if failure else None,
        "limits": {
            "max_batch": limits.max_batch,
            "max_variants": limits.max_variants,
            "min_new_tokens": limits.min_new_tokens,
            "max_new_tokens": limits.max_new_tokens,
            "max_title_chars": limits.max_title_chars,
            "max_description_chars": limits.max_description_chars,
            "max_batch_tokens": limits.max_batch_tokens,
            "tones": list(Tone.values),
        },
    }


def _production(name: str) -> dict | None:
    version = production_version(name)
    if version is None:
        return None
    run = version.training_run
    return {
        "version": version.version,
        "promoted_at": version.promoted_at,
        "promoted_by": version.promoted_by.get_username() if version.promoted_by_id else None,
        "metrics": version.metrics,
        "dataset_version": run.dataset_version.number if run.dataset_version_id else None,
        "training_run": run.pk,
        "preset": run.preset,
        "parameter_count": run.parameter_count,
        "artifact_sha256": version.artifact_sha256,
    }


def serving_readiness(*, name: str | None = None) -> tuple[bool, dict]:
    """Whether this process can serve predictions, loading the production model if none is loaded yet.

    A version that failed to load while an older one keeps serving leaves the process ready (taking
    every pod out of the Service at once for a bad artifact would turn a failed promotion into an
    outage); the failure is reported in `reasons` and the status says "degraded".
    """
    manager = ModelManager.for_name(name)
    try:
        loaded = manager.get()
    except ApplicationError as error:
        return False, {"reasons": [error.message]}
    failure = manager.failure
    body = {
        "model": {"name": loaded.name, "version": loaded.version, "loaded_at": loaded.loaded_at.isoformat()},
        "reasons": [f"{failure.describe()}; still serving v{loaded.version}"] if failure else [],
    }
    return True, body
