"""Training services: every write to a TrainingRun goes through these functions.

`runs` creates, queues and cancels; `execution` trains (one at a time, see its docstring); `reaper`
fails runs whose worker vanished. Advisory locks come from `creativeops.core.locks`.
"""

from training.services.execution import ProgressUpdate, TrainingStopped, training_run_execute
from training.services.reaper import training_runs_reap_stale
from training.services.runs import (
    HYPERPARAMETER_LIMITS,
    TUNABLE_HYPERPARAMETERS,
    training_config_of,
    training_config_resolve,
    training_run_cancel,
    training_run_create,
    training_run_enqueue,
)

__all__ = [
    "HYPERPARAMETER_LIMITS",
    "TUNABLE_HYPERPARAMETERS",
    "ProgressUpdate",
    "TrainingStopped",
    "training_config_of",
    "training_config_resolve",
    "training_run_cancel",
    "training_run_create",
    "training_run_enqueue",
    "training_run_execute",
    "training_runs_reap_stale",
]
