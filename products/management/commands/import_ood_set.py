"""Import the out-of-distribution evaluation set as its own dataset version: `manage.py import_ood_set`."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from products.models import DatasetVersion
from products.ood import OOD_FIXTURE_PATH
from products.services import dataset_version_create_ood


class Command(BaseCommand):
    help = (
        "Write (or find) the dataset version of kind 'ood' from products/fixtures/ood_products.json: "
        "real-world products the generator never writes, never stored as catalog products and so never "
        "trained on. The same fixture always gives the same version."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--file", type=Path, default=OOD_FIXTURE_PATH, help="Fixture to import (default: the repo's)."
        )
        parser.add_argument(
            "--note", default="", help="Why this version was written (at most 200 characters)."
        )

    def handle(self, *args, file: Path, note: str, **options):
        if not file.is_file():
            raise CommandError(f"{file} does not exist or is not a file.")
        started_at = timezone.now()
        try:
            version = dataset_version_create_ood(
                path=file.resolve(), trigger=DatasetVersion.Trigger.MANUAL, note=note
            )
        except ApplicationError as error:
            raise CommandError(error.message)
        if version.created_at < started_at:
            self.stdout.write(f"Dataset version {version.number} already holds this fixture (same SHA-256).")
        novelty = ", ".join(
            f"{count:,} {name}" for name, count in version.statistics["ood"]["novelty_counts"].items()
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Dataset version {version.number} (ood): {version.product_count:,} products ({novelty}), "
                f"{version.row_count:,} rows, sha256 {version.sha256}"
            )
        )
