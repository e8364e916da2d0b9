"""Cut a dataset version from the catalog: `manage.py snapshot_dataset [--note "…"]`."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from creativeops.core.errors import ApplicationError
from products.models import DatasetVersion
from products.services import dataset_version_create, dataset_version_create_golden


class Command(BaseCommand):
    help = (
        "Write the catalog (products and their reference creatives) once as a Parquet dataset version "
        "with its SHA-256, split and statistics. --golden writes (or finds) the golden evaluation set."
    )

    def add_arguments(self, parser):
        parser.add_argument("--note", default="", help="Why this version was cut (at most 200 characters).")
        parser.add_argument(
            "--golden",
            action="store_true",
            help="The golden evaluation set (GOLDEN_SET_SEED / _SIZE) instead.",
        )

    def handle(self, *args, note: str, golden: bool, **options):
        started, started_at = time.perf_counter(), timezone.now()
        try:
            if golden:
                version = dataset_version_create_golden(trigger=DatasetVersion.Trigger.MANUAL, note=note)
            else:
                version = dataset_version_create(trigger=DatasetVersion.Trigger.MANUAL, note=note)
        except ApplicationError as error:
            raise CommandError(error.message)
        elapsed = time.perf_counter() - started
        splits = ", ".join(
            f"{version.split_counts.get(name, 0):,} {name}" for name in ("train", "validation", "test")
        )
        if version.created_at < started_at:
            self.stdout.write("The golden set for this seed and size already exists (it never changes).")
        self.stdout.write(
            self.style.SUCCESS(
                f"Dataset version {version.number}: {version.row_count:,} rows, "
                f"{version.product_count:,} products, sha256 {version.sha256}"
            )
        )
        self.stdout.write(
            f"  kind {version.kind}; split {splits}; file {version.file} "
            f"({version.size_bytes:,} bytes); {elapsed:.2f} s"
        )
