"""Write a registered model version as an MLflow pyfunc (see inference/services/mlflow_export.py)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from creativeops.core.errors import ApplicationError
from inference.services import model_version_export_pyfunc
from registry.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Export registered model VERSION as an MLflow pyfunc into DIR (a new folder), to serve with "
        "`mlflow models serve -m DIR --env-manager local`."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", type=int, help="the registered version number")
        parser.add_argument("dir", type=Path, help="the folder to create")
        parser.add_argument(
            "--model-name", default=None, help="registered model name (default: the served one)"
        )

    def handle(self, *args, version: int, dir: Path, model_name: str | None, **options):
        name = model_name or settings.CREATIVEOPS["DEFAULT_MODEL_NAME"]
        model_version = ModelVersion.objects.filter(name=name, version=version).first()
        if model_version is None:
            raise CommandError(f"No registered version {version} of {name!r}.")
        try:
            directory = model_version_export_pyfunc(version=model_version, directory=dir)
        except ApplicationError as error:
            raise CommandError(error.message)
        self.stdout.write(
            f"Exported {name} v{version} as an MLflow pyfunc to {directory}; serve it with "
            f"`mlflow models serve -m {directory} --env-manager local`."
        )
