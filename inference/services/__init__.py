"""Writes of the inference app: generating creatives with the production model, refreshing the catalog.

Callers import from here (`from inference import services`); the modules split the work by
sub-domain.
"""

from inference.services.admission import batch_generation_slot
from inference.services.creatives import creatives_store
from inference.services.generation import (
    GenerationResult,
    creatives_generate,
    generation_limits,
    product_item,
)
from inference.services.novelty import creatives_attach_novelty, items_novelty, training_profiles
from inference.services.prediction_logs import (
    prediction_logs_flush,
    prediction_logs_submit,
    prediction_logs_write,
)
from inference.services.refresh import creatives_refresh, creatives_refresh_if_needed

__all__ = [
    "GenerationResult",
    "batch_generation_slot",
    "creatives_attach_novelty",
    "creatives_generate",
    "creatives_refresh",
    "creatives_refresh_if_needed",
    "creatives_store",
    "generation_limits",
    "items_novelty",
    "prediction_logs_flush",
    "prediction_logs_submit",
    "prediction_logs_write",
    "product_item",
    "training_profiles",
]
