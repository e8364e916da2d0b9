"""Write a drift report now (what the hourly beat entry does) and print its PSI table."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from creativeops.core.errors import ApplicationError
from creativeops.monitoring.services import drift_report_create

MAX_WINDOW_HOURS = 24 * 90


class Command(BaseCommand):
    help = (
        "Compare the last window of prediction inputs with the production model's training data, "
        "store a drift report and print the PSI per feature. Starts the pipeline on drift only when "
        "DRIFT_TRIGGERS_PIPELINE is on."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--model-name", default=None, help="Registered model name (default: the setting)."
        )
        parser.add_argument(
            "--window-hours",
            type=float,
            default=24.0,
            help=f"Hours of predictions to compare, more than 0 and at most {MAX_WINDOW_HOURS} (default 24).",
        )

    def handle(self, *args, model_name, window_hours, **options):
        if not 0 < window_hours <= MAX_WINDOW_HOURS:
            raise CommandError(
                f"--window-hours must be more than 0 and at most {MAX_WINDOW_HOURS}; got {window_hours:g}."
            )
        try:
            report = drift_report_create(model_name=model_name, window=timedelta(hours=window_hours))
        except ApplicationError as error:
            raise CommandError(error.message)
        if report is None:
            raise CommandError(
                "No model version is in production: there is no training data to compare with."
            )
        self._print(report)

    def _print(self, report) -> None:
        details = report.details
        self.stdout.write(
            f"Drift report #{report.pk}: {details.get('model')} against dataset version "
            f"v{details.get('dataset_version')}, {report.sample_size} predictions from "
            f"{report.window_start:%Y-%m-%d %H:%M} to {report.window_end:%Y-%m-%d %H:%M} UTC"
        )
        unseen = details.get("unlike_training_data") or {}
        self.stdout.write(
            f"Unlike the training data: {report.unlike_training_data} of {report.sample_size} predictions "
            f"(unseen category {unseen.get('category', 0)}, brand {unseen.get('brand', 0)}, "
            f"vocabulary {unseen.get('vocabulary', 0)})"
        )
        if details.get("note"):
            self.stdout.write(self.style.WARNING(details["note"]))
        features = details.get("features") or []
        if features:
            self.stdout.write(f"{'feature':<34} {'PSI':>9}  {'inputs':>7}  status")
            for feature in features:
                psi = feature.get("psi")
                status = (
                    "not computed: " + feature.get("note", "")
                    if psi is None
                    else ("ABOVE threshold" if psi > report.threshold else "ok")
                )
                psi_text = "—" if psi is None else f"{psi:.4f}"
                self.stdout.write(
                    f"{feature['label']:<34} {psi_text:>9}  {feature['observed_count']:>7}  {status}"
                )
        summary = (
            f"max PSI {report.max_psi:.4f}, threshold {report.threshold:g}: "
            f"{'DRIFTED' if report.drifted else 'no drift'}"
            if report.max_psi is not None
            else f"no PSI computed, threshold {report.threshold:g}"
        )
        self.stdout.write(self.style.ERROR(summary) if report.drifted else self.style.SUCCESS(summary))
        pipeline = details.get("pipeline")
        if pipeline:
            self.stdout.write(pipeline["message"])
