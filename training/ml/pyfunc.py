"""CreativeGenerator as an MLflow pyfunc, so a registered model can be served with MLflow's own tools.

`manage.py export_mlflow_pyfunc VERSION DIR` writes the export (inference/services/mlflow_export.py):
the model folder as the pyfunc's artifact, this module and the rest of `training.ml` as its code, so
`mlflow models serve -m DIR --env-manager local` needs nothing of the Django project. Input is one row
per product (`title`, `description`, optional `category`, `brand`, `price`, `tone`); output is one
creative per row (`tone`, `headline`, `body`, `cta`), the greedy variant that the API answers first.
"""

from __future__ import annotations

import math
import os

import mlflow.pyfunc

ARTIFACT_KEY = "creative_model"
DEFAULT_TONE = "bold"
INPUT_COLUMNS = ("title", "description", "category", "brand", "price", "tone")
OUTPUT_COLUMNS = ("tone", "headline", "body", "cta")
DEFAULT_MAX_NEW_TOKENS = 64


class CreativeGeneratorPyfunc(mlflow.pyfunc.PythonModel):
    """Loads the verified model folder once per server process and generates one creative per row."""

    def load_context(self, context):
        import torch

        from training.ml.generator import CreativeGenerator

        threads = int(os.environ.get("TORCH_NUM_THREADS", "0") or 0)
        if threads > 0:  # one process per core, as our gunicorn workers: no oversubscription
            torch.set_num_threads(threads)
        self.generator = CreativeGenerator.load(context.artifacts[ARTIFACT_KEY], device="cpu")

    def predict(self, context, model_input, params=None):
        import pandas as pd

        records = model_input.to_dict(orient="records")
        items = [
            {name: _present(record.get(name)) for name in INPUT_COLUMNS if name != "tone"}
            for record in records
        ]
        tones = [_present(record.get("tone")) or DEFAULT_TONE for record in records]
        max_new_tokens = int((params or {}).get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS)
        generated = self.generator.generate(items, tones, max_new_tokens=max_new_tokens)
        return pd.DataFrame([variants[0] for variants in generated], columns=list(OUTPUT_COLUMNS))


def _present(value):
    """None for what pandas writes for a missing value (NaN in a float column, None elsewhere)."""
    return None if isinstance(value, float) and math.isnan(value) else value


def pyfunc_signature():
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema(
        [
            ColSpec("string", "title"),
            ColSpec("string", "description"),
            ColSpec("string", "category", required=False),
            ColSpec("string", "brand", required=False),
            ColSpec("double", "price", required=False),
            ColSpec("string", "tone", required=False),
        ]
    )
    outputs = Schema([ColSpec("string", name) for name in OUTPUT_COLUMNS])
    params = ParamSchema([ParamSpec("max_new_tokens", "long", DEFAULT_MAX_NEW_TOKENS)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)
