"""Marketing-copy model training, evaluation and generation: plain PyTorch + transformers, no Django.

Dataclass configs and DataFrames in, plain results out::

    result = train_model(frame, TrainingConfig.from_preset("small"), "var/models/v7", dataset_info={...})
    generator = CreativeGenerator.load(result.artifact_dir)
    generator.generate([{"title": ..., "description": ...}], tone="bold", num_variants=3)
"""

from training.ml.artifact import ArtifactIntegrityError, read_manifest, sha256_of_directory, verify_artifact
from training.ml.config import PRESETS, TrainingConfig
from training.ml.evaluate import PRIMARY_METRIC, copy_title_baseline, evaluate_generator, evaluation_rows
from training.ml.formatting import parse_generation
from training.ml.generator import CreativeGenerator
from training.ml.hf_trainer_baseline import benchmark_training, train_with_hf_trainer
from training.ml.metrics import FactChecker, distinct_n, fact_fidelity, rouge_l_f1
from training.ml.tokenizer import TONES
from training.ml.train import ProgressCallback, TrainingResult, train_model

__all__ = [
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
