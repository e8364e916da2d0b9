"""Train a model on a dataset version: `manage.py train --dataset-version 3 --preset small --epochs 4`."""

from __future__ import annotations

import json
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from creativeops.core.errors import ApplicationError
from creativeops.core.progress import eta_postfix, progress_bar
from products.models import DatasetVersion
from products.selectors import dataset_versions_trainable
from training.management.commands._tables import text_table
from training.ml.config import PRESETS
from training.models import TrainingRun
from training.services import ProgressUpdate, training_run_create, training_run_enqueue, training_run_execute

POLL_SECONDS = 1.0
FINISHED = (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED)


def _parse_setting(text: str) -> tuple[str, object]:
    name, separator, raw = text.partition("=")
    if not separator or not name.strip():
        raise CommandError(f"--set takes NAME=VALUE (e.g. --set learning_rate=0.001), got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string such as device=cpu
    return name.strip(), value


def _epoch_line(epoch, metrics: dict) -> str:
    def loss(name: str) -> str:
        value = metrics.get(name)
        return "—" if value is None else f"{value:.4f}"

    return f"epoch {epoch}: train loss {loss('train_loss')}, validation loss {loss('val_loss')}"


class Command(BaseCommand):
    help = (
        "Train the creative generator on a dataset version. Runs in this process with a progress bar "
        "(--sync, the default without a Celery broker), or queues the run for a training worker and "
        "follows its progress."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dataset-version",
            type=int,
            help="Dataset version number (default: the latest training snapshot).",
        )
        parser.add_argument(
            "--preset", default="small", help=f"Size preset: {', '.join(PRESETS)} (default small)."
        )
        parser.add_argument("--epochs", type=int, help="Override the preset's number of epochs.")
        parser.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="Override any other hyperparameter (repeatable), e.g. --set learning_rate=0.001.",
        )
        parser.add_argument(
            "--sync", action="store_true", help="Train in this process even when a broker is set."
        )
        parser.add_argument(
            "--lock-wait",
            type=float,
            default=None,
            help="Seconds to wait for another training to finish before giving up (default from settings).",
        )

    def handle(self, *args, **options):
        dataset_version = self._dataset_version(options["dataset_version"])
        hyperparameters = dict(_parse_setting(text) for text in options["overrides"])
        if options["epochs"] is not None:
            hyperparameters["epochs"] = options["epochs"]
        synchronous = options["sync"] or settings.CELERY_TASK_ALWAYS_EAGER
        create = training_run_create if synchronous else training_run_enqueue
        try:
            training_run = create(
                dataset_version=dataset_version,
                preset=options["preset"],
                hyperparameters=hyperparameters,
                trigger=TrainingRun.Trigger.MANUAL,
            )
        except ApplicationError as error:
            raise CommandError(error.message)
        where = "in this process" if synchronous else "on a training worker"
        self.stdout.write(
            f"Training run #{training_run.pk}: preset {training_run.preset} "
            f"on dataset v{dataset_version.number} "
            f"({dataset_version.product_count} products), {where}."
        )
        if synchronous:
            training_run = self._train_here(training_run, options["lock_wait"])
        else:
            training_run = self._follow(training_run)
        self._report(training_run)

    def _dataset_version(self, number: int | None) -> DatasetVersion:
        versions = dataset_versions_trainable()
        if number is None:
            latest = versions.first()
            if latest is None:
                raise CommandError(
                    "There is no training dataset version yet; cut one from the catalog first."
                )
            return latest
        found = DatasetVersion.objects.filter(number=number).first()
        if found is None:
            known = ", ".join(f"v{n}" for n in versions.values_list("number", flat=True)[:10])
            raise CommandError(f"Dataset version v{number} does not exist (recent: {known or 'none'}).")
        return found

    def _bar(self, training_run: TrainingRun) -> tqdm:
        # The command's own stderr stream (not its line-ending wrapper, which would break "\r" redraws),
        # so call_command(stderr=...) captures the bar and the epoch lines.
        # The line's one ETA is the service's (the admin's figure), not tqdm's: creativeops.core.progress.
        stream = getattr(self.stderr, "_out", sys.stderr)
        return progress_bar(unit="steps", desc=f"run #{training_run.pk}", dynamic_ncols=True, file=stream)

    def _train_here(self, training_run: TrainingRun, lock_wait: float | None) -> TrainingRun:
        with self._bar(training_run) as bar:

            def show(update: ProgressUpdate) -> None:
                if bar.total != update.total_steps:
                    bar.total = update.total_steps
                    bar.refresh()
                bar.update(update.step - bar.n)
                bar.set_postfix_str(eta_postfix(f"epoch {update.epoch}", update.eta_seconds), refresh=False)
                if update.epoch_metrics:
                    bar.write(_epoch_line(update.epoch, update.epoch_metrics), file=bar.fp)

            return training_run_execute(
                training_run_id=training_run.pk, lock_wait_seconds=lock_wait, progress_listener=show
            )

    def _follow(self, training_run: TrainingRun) -> TrainingRun:
        """Poll the row (written by the worker) into a progress bar until the run finishes."""
        epochs_shown = 0
        try:
            with self._bar(training_run) as bar:
                while training_run.status not in FINISHED:
                    time.sleep(POLL_SECONDS)
                    training_run.refresh_from_db()
                    if training_run.total_steps and bar.total != training_run.total_steps:
                        bar.total = training_run.total_steps
                        bar.refresh()
                    bar.update(max(training_run.step - bar.n, 0))
                    bar.set_postfix_str(
                        eta_postfix(training_run.status, training_run.eta_seconds), refresh=True
                    )
                    for epoch in training_run.epoch_history[epochs_shown:]:
                        bar.write(_epoch_line(epoch.get("epoch"), epoch), file=bar.fp)
                    epochs_shown = len(training_run.epoch_history)
        except KeyboardInterrupt:
            raise CommandError(
                f"Stopped following run #{training_run.pk}; it goes on on the worker. "
                "Cancel it in the admin if needed."
            )
        return training_run

    def _report(self, training_run: TrainingRun) -> None:
        if training_run.status != TrainingRun.Status.SUCCEEDED:
            reason = (training_run.error or "no reason recorded").split("\n\n")[0]
            raise CommandError(f"Training run #{training_run.pk} {training_run.status}: {reason}")
        metrics = training_run.metrics
        quality = [
            (name, metrics.get(name), metrics.get(f"baseline_{name}"))
            for name in ("rouge_l", "fact_fidelity", "distinct_2")
            if name in metrics
        ]
        other = [
            (name, metrics.get(name))
            for name in (
                "val_loss",
                "eval_loss",
                "eval_perplexity",
                "best_epoch",
                "epochs_run",
                "steps",
                "tokens_per_second",
                "parameter_count",
                "latency_ms_per_item",
                "wall_seconds",
            )
            if name in metrics
        ]
        self.stdout.write("")
        self.stdout.write(text_table(["metric (test split)", "model", "copy-the-title"], quality))
        self.stdout.write("")
        self.stdout.write(text_table(["training", "value"], other))
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Training run #{training_run.pk} succeeded in {training_run.duration_seconds or 0:.1f} s: "
                f"artifact {training_run.artifact_uri} (sha256 {training_run.artifact_sha256[:12]}…), "
                f"MLflow run {training_run.mlflow_run_id or '(not tracked)'}."
            )
        )
