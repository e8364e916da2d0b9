"""Generate a synthetic catalog and store it: `manage.py generate_products --count 2000 --seed 7`."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from creativeops.core.errors import ApplicationError
from products.services import product_bulk_upsert_generated


class Command(BaseCommand):
    help = (
        "Generate COUNT products for SEED with the deterministic catalog generator and store them with "
        "their reference creatives. Re-running with the same seed updates, never duplicates."
    )

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="Products to generate (>= 0).")
        parser.add_argument(
            "--seed", type=int, required=True, help="Seed: the same seed gives the same catalog."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs).")

    def handle(self, *args, count: int, seed: int, no_progress: bool, **options):
        started = time.perf_counter()
        with tqdm(
            total=count, unit=" products", desc="Storing products", disable=no_progress, file=self.stderr._out
        ) as bar:
            try:
                result = product_bulk_upsert_generated(count=count, seed=seed, progress=bar.update)
            except ApplicationError as error:
                raise CommandError(error.message)
        elapsed = time.perf_counter() - started
        rate = result.total / elapsed if elapsed else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Stored {result.total:,} generated products (seed {seed}) in {elapsed:.2f} s "
                f"({rate:,.0f}/s): {result.created:,} created, {result.updated:,} updated, "
                f"{result.unchanged:,} unchanged."
            )
        )
