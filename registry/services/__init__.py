"""Registry services: every change to a model version goes through one of these functions.

The admin, the management commands, the operator API and the pipeline call the same functions, so
an operator's button and a REST call can never do different things.
"""

from registry.services.experiments import (
    experiment_fail,
    experiment_key_bump,
    experiment_start,
    experiment_stop,
)
from registry.services.gate import GateDecision, GateThresholds, evaluate_candidate, gate_rules_apply
from registry.services.mlflow_mirror import MlflowUnavailable, mlflow_catch_up, mlflow_version_sync
from registry.services.promotion import (
    NO_PRODUCTION,
    model_version_archive,
    model_version_auto_promote,
    model_version_promote,
    model_version_reject,
    model_version_rollback,
    production_key_bump,
)
from registry.services.registration import model_version_register

__all__ = [
    "NO_PRODUCTION",
    "GateDecision",
    "GateThresholds",
    "MlflowUnavailable",
    "evaluate_candidate",
    "experiment_fail",
    "experiment_key_bump",
    "experiment_start",
    "experiment_stop",
    "gate_rules_apply",
    "mlflow_catch_up",
    "mlflow_version_sync",
    "model_version_archive",
    "model_version_auto_promote",
    "model_version_promote",
    "model_version_register",
    "model_version_reject",
    "model_version_rollback",
    "production_key_bump",
]
