"""Writes of the inference app: generating creatives with the production model, refreshing the catalog.

Callers import from here (`from inference import services`); the modules split the work by
sub-domain.
"""

from inference.services.generation import (
    GenerationResult,
    creatives_generate,
    generation_limits,
    product_item,
)
from inference.services.mlflow_export import model_version_export_pyfunc
from inference.services.prediction_logs import (
    prediction_logs_flush,
    prediction_logs_submit,
    prediction_logs_write,
)
from inference.services.refresh import creatives_refresh, creatives_refresh_if_needed

__all__ = [
    "GenerationResult",
    "creatives_generate",
    "creatives_refresh",
    "creatives_refresh_if_needed",
    "generation_limits",
    "model_version_export_pyfunc",
    "prediction_logs_flush",
    "prediction_logs_submit",
    "prediction_logs_write",
    "product_item",
]
