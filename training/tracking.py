"""MLflow tracking of a training run: parameters, per-epoch and final metrics, the model folder and
the dataset version it was trained on.

Django is the source of truth; MLflow is a mirror for people who compare experiments there. So a
tracking failure (server down, store locked) never fails a training: the first error is logged as a
warning, the tracker switches itself off for the rest of the run, and `TrainingRun.mlflow_run_id`
stays empty when not even the MLflow run could be created.

Only `MlflowClient` calls with an explicit run id are used, never the fluent `mlflow.start_run()`
state, which is per thread/process and would mix runs when two trainings share a process (the
eager worker inside a web process, a test running several). The tracking URI is read from settings
on every use, because tests and management commands change it at run time.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from products.models import DatasetVersion
    from training.models import TrainingRun

logger = logging.getLogger(__name__)

TAG_TRAINING_RUN_ID = "creativeops.training_run_id"
TAG_DATASET_VERSION = "creativeops.dataset_version"
TAG_DATASET_SHA256 = "creativeops.dataset_sha256"
TAG_PRESET = "creativeops.preset"
ARTIFACT_PATH = "model"
DATASET_CONTEXT = "training"
MLFLOW_PARAM_MAX_CHARS = 6000


def tracking_client() -> MlflowClient:
    """A client for the configured tracking store (also the default for MLflow's own helpers)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(settings.MLFLOW_TRACKING_URI)
    return MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)


def experiment_id(client: MlflowClient) -> str:
    """The id of settings.MLFLOW_EXPERIMENT_NAME, created with the configured artifact root if new.

    An explicit artifact location keeps MLflow from writing `./mlruns` into whatever directory the
    worker happened to start in.
    """
    from mlflow.exceptions import MlflowException

    name = settings.MLFLOW_EXPERIMENT_NAME
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=settings.MLFLOW_ARTIFACT_ROOT)
    except MlflowException:
        # Another worker created it between our read and our write.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def numeric_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a (possibly nested) metrics dict, flattened to `a.b` keys."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(numeric_metrics(value, prefix=f"{name}."))
        elif isinstance(value, int | float) and math.isfinite(float(value)):  # bools count as 0/1
            flat[name] = float(value)
    return flat


class TrainingTracker:
    """The MLflow run mirroring one TrainingRun. Every method is safe to call when tracking is off."""

    def __init__(self, training_run: TrainingRun):
        self.training_run = training_run
        self.client: MlflowClient | None = None
        self.run_id: str | None = None
        self.enabled = True

    def _guarded(self, what: str, action: Callable[[], Any]) -> Any:
        if not self.enabled:
            return None
        try:
            return action()
        except Exception as error:  # any tracking failure: warn once, keep training
            self.enabled = False
            logger.warning(
                "MLflow %s failed for training run #%s (%s: %s); the run continues without MLflow tracking.",
                what,
                self.training_run.pk,
                type(error).__name__,
                error,
            )
            return None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(
        self, *, params: Mapping[str, Any], dataset_version: DatasetVersion, frame: pd.DataFrame
    ) -> None:
        """Create the MLflow run, log the parameters and the dataset version as its training input."""
        self._guarded("run creation", lambda: self._create_run(dataset_version))
        self._guarded("parameter logging", lambda: self._log_params(params, dataset_version))
        self._guarded("dataset input logging", lambda: self._log_dataset(dataset_version, frame))

    def _create_run(self, dataset_version: DatasetVersion) -> None:
        self.client = tracking_client()
        run = self.client.create_run(
            experiment_id(self.client),
            run_name=f"training-run-{self.training_run.pk}",
            tags={
                TAG_TRAINING_RUN_ID: str(self.training_run.pk),
                TAG_DATASET_VERSION: str(dataset_version.number),
                TAG_DATASET_SHA256: dataset_version.sha256,
                TAG_PRESET: self.training_run.preset,
            },
        )
        self.run_id = run.info.run_id

    def _log_params(self, params: Mapping[str, Any], dataset_version: DatasetVersion) -> None:
        from mlflow.entities import Param

        values = {
            **{key: value for key, value in params.items()},
            "dataset_version": dataset_version.number,
            "dataset_sha256": dataset_version.sha256,
            "dataset_products": dataset_version.product_count,
            "dataset_rows": dataset_version.row_count,
        }
        self.client.log_batch(
            self.run_id,
            params=[Param(key, str(value)[:MLFLOW_PARAM_MAX_CHARS]) for key, value in sorted(values.items())],
        )

    def _log_dataset(self, dataset_version: DatasetVersion, frame: pd.DataFrame) -> None:
        import mlflow.data
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        from training.storage import storage_source

        with warnings.catch_warnings():
            # MLflow registers two equivalent local-file source types and warns that it picked one.
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
            dataset = mlflow.data.from_pandas(
                frame,
                source=storage_source(dataset_version.file),
                name=f"catalog-v{dataset_version.number}",
                digest=dataset_version.sha256[:16],
            )
        self.client.log_inputs(
            self.run_id,
            datasets=[
                DatasetInput(
                    dataset=dataset._to_mlflow_entity(),
                    tags=[InputTag(key=MLFLOW_DATASET_CONTEXT, value=DATASET_CONTEXT)],
                )
            ],
        )

    def log_metrics(self, metrics: Mapping[str, Any], *, step: int = 0, prefix: str = "") -> None:
        """Log the finite numbers of `metrics` at `step` (the epoch for per-epoch values)."""
        if self.run_id is None:
            return

        def log() -> None:
            from mlflow.entities import Metric

            timestamp = int(time.time() * 1000)
            entries = [
                Metric(key, value, timestamp, step) for key, value in numeric_metrics(metrics, prefix).items()
            ]
            if entries:
                self.client.log_batch(self.run_id, metrics=entries)

        self._guarded("metric logging", log)

    def log_artifacts(self, local_dir: Path) -> None:
        if self.run_id is not None:
            self._guarded(
                "artifact upload",
                lambda: self.client.log_artifacts(self.run_id, str(local_dir), ARTIFACT_PATH),
            )

    def end(self, status: str) -> None:
        """Close the MLflow run as FINISHED, FAILED or KILLED. Tried even after an earlier failure."""
        if self.run_id is None or self.client is None:
            return
        try:
            self.client.set_terminated(self.run_id, status=status)
        except Exception as error:
            logger.warning("MLflow could not close run %s as %s: %s", self.run_id, status, error)


def mlflow_run_terminate(run_id: str, status: str) -> None:
    """Close an MLflow run by id (the reaper closes the runs of dead workers); never raises."""
    try:
        tracking_client().set_terminated(run_id, status=status)
    except Exception as error:
        logger.warning("MLflow could not close run %s as %s: %s", run_id, status, error)
