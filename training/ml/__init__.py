"""Marketing-copy model training, evaluation and generation: plain PyTorch + transformers, no Django.

Dataclass configs and DataFrames in, plain results out::

    result = train_model(frame, TrainingConfig.from_preset("small"), "var/models/v7", dataset_info={...})
    generator = CreativeGenerator.load(result.artifact_dir)
    generator.generate([{"title": ..., "description": ...}], tone="bold", num_variants=3)

Importing the package is cheap: each name below loads its module (and torch with it) on first use,
so Django start-up and code that only needs the presets never pays for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "ArtifactIntegrityError": "artifact",
    "read_manifest": "artifact",
    "sha256_of_directory": "artifact",
    "verify_artifact": "artifact",
    "PRESETS": "config",
    "TrainingConfig": "config",
    "PRIMARY_METRIC": "evaluate",
    "copy_title_baseline": "evaluate",
    "evaluate_generator": "evaluate",
    "evaluation_rows": "evaluate",
    "OOD_METRICS": "metrics",
    "evaluate_out_of_distribution": "evaluate",
    "evaluate_asset_sets": "evaluate",
    "parse_generation": "formatting",
    "CreativeGenerator": "generator",
    "benchmark_training": "hf_trainer_baseline",
    "train_with_hf_trainer": "hf_trainer_baseline",
    "FactChecker": "metrics",
    "distinct_n": "metrics",
    "fact_fidelity": "metrics",
    "rouge_l_f1": "metrics",
    "TONES": "tokenizer",
    "ProgressCallback": "train",
    "TrainingResult": "train",
    "train_model": "train",
}

if TYPE_CHECKING:
    from training.ml.artifact import (
        ArtifactIntegrityError,
        read_manifest,
        sha256_of_directory,
        verify_artifact,
    )
    from training.ml.config import PRESETS, TrainingConfig
    from training.ml.evaluate import (
        PRIMARY_METRIC,
        copy_title_baseline,
        evaluate_asset_sets,
        evaluate_generator,
        evaluate_out_of_distribution,
        evaluation_rows,
    )
    from training.ml.formatting import parse_generation
    from training.ml.generator import CreativeGenerator
    from training.ml.hf_trainer_baseline import benchmark_training, train_with_hf_trainer
    from training.ml.metrics import OOD_METRICS, FactChecker, distinct_n, fact_fidelity, rouge_l_f1
    from training.ml.tokenizer import TONES
    from training.ml.train import ProgressCallback, TrainingResult, train_model


def __getattr__(name: str):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "OOD_METRICS",
    "PRESETS",
    "PRIMARY_METRIC",
    "TONES",
    "ArtifactIntegrityError",
    "CreativeGenerator",
    "FactChecker",
    "ProgressCallback",
    "TrainingConfig",
    "TrainingResult",
    "benchmark_training",
    "copy_title_baseline",
    "distinct_n",
    "evaluate_generator",
    "evaluate_out_of_distribution",
    "evaluate_asset_sets",
    "evaluation_rows",
    "fact_fidelity",
    "parse_generation",
    "read_manifest",
    "rouge_l_f1",
    "sha256_of_directory",
    "train_model",
    "train_with_hf_trainer",
    "verify_artifact",
]
