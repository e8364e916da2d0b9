"""Measure the catalog's bulk paths: `manage.py benchmark_catalog [--count 100000] [--reset]`.

Prints products/s for generation alone, for generation + insert into an empty catalog, for a re-run
with the same seed (an update that changes nothing), and the seconds to snapshot the catalog as a
dataset version and to read it back, against the targets (>= 20,000 products/s; snapshot < 5 s).
"""

from __future__ import annotations

import os
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from products.generator import iter_catalog
from products.models import DatasetVersion, Product, ReferenceCreative
from products.services import dataset_version_create, dataset_version_read, product_bulk_upsert_generated
from products.services.catalog import CHUNK_SIZE, PARALLEL_WRITERS

INSERT_TARGET_PER_SECOND = 20_000
SNAPSHOT_TARGET_SECONDS = 5.0


class Command(BaseCommand):
    help = "Benchmark generation + insert, re-run and snapshot of the catalog on the configured database."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=100_000, help="Products (default 100,000).")
        parser.add_argument("--seed", type=int, default=424242, help="Generator seed (default 424242).")
        parser.add_argument(
            "--reset",
            action="store_true",
            help=(
                "Delete every product first, and every row that references one (creatives served, "
                "prediction logs): for a scratch database only."
            ),
        )

    def handle(self, *args, count: int, seed: int, reset: bool, **options):
        if Product.objects.exists():
            if not reset:
                raise CommandError(
                    "The catalog is not empty: the insert figure needs an empty one. Run against a scratch "
                    "database, or pass --reset to delete every product first."
                )
            self._delete_catalog()
        writers = PARALLEL_WRITERS if connection.vendor == "postgresql" else 1
        self.stdout.write(
            f"Database: {connection.vendor} ({connection.settings_dict['NAME']}); {count:,} products "
            f"in chunks of {CHUNK_SIZE:,} through {writers} connection{'s' if writers > 1 else ''}; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
        )
        results = []

        started = time.perf_counter()
        generated = sum(1 for _ in iter_catalog(count, seed))
        results.append(("generate only", generated / (time.perf_counter() - started), None))

        for label in ("generate + insert (empty catalog)", "re-run, same seed (nothing changes)"):
            started = time.perf_counter()
            with tqdm(total=count, unit=" products", desc=label, file=self.stderr._out, leave=False) as bar:
                product_bulk_upsert_generated(count=count, seed=seed, progress=bar.update)
            rate = count / (time.perf_counter() - started)
            results.append((label, rate, rate >= INSERT_TARGET_PER_SECOND))

        stored = Product.objects.count()
        if stored != count:
            raise CommandError(f"Expected {count:,} products after the re-run, found {stored:,}: duplicates?")

        started = time.perf_counter()
        version = dataset_version_create(trigger=DatasetVersion.Trigger.MANUAL, note="benchmark_catalog")
        snapshot_seconds = time.perf_counter() - started
        started = time.perf_counter()
        frame = dataset_version_read(version=version)
        read_seconds = time.perf_counter() - started

        for label, rate, passed in results:
            verdict = (
                ""
                if passed is None
                else f"  {'PASS' if passed else 'FAIL'} (target >= {INSERT_TARGET_PER_SECOND:,}/s)"
            )
            self.stdout.write(f"{label:<40} {rate:>10,.0f} products/s{verdict}")
        snapshot_verdict = "PASS" if snapshot_seconds < SNAPSHOT_TARGET_SECONDS else "FAIL"
        self.stdout.write(
            f"{'snapshot (dataset version ' + str(version.number) + ')':<40} {snapshot_seconds:>10.2f} s  "
            f"{snapshot_verdict} (target < {SNAPSHOT_TARGET_SECONDS:.0f} s): {version.row_count:,} rows, "
            f"{version.product_count:,} products, {version.size_bytes / 1e6:.1f} MB"
        )
        self.stdout.write(
            f"{'read back (SHA-256 verified)':<40} {read_seconds:>10.2f} s  {len(frame):,} rows"
        )

    def _delete_catalog(self) -> None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Deferred foreign-key checks still pending in an open transaction block a TRUNCATE.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                tables = f"{ReferenceCreative._meta.db_table}, {Product._meta.db_table}"
                cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        else:
            ReferenceCreative.objects.all().delete()
            Product.objects.all().delete()
        self.stdout.write("Deleted every product (--reset).")
