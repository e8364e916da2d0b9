"""Measure the marketers' creatives page at catalog scale (see inference.benchmark_pages)."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from inference import benchmark, benchmark_pages


class Command(BaseCommand):
    help = (
        "Benchmark /creatives/ (page 1, page 400, newest first, a search, a category + tone filter) on "
        "a throw-away copy of the configured database filled with a generated catalog: p50/p95 and "
        "queries per page. Run it once with a SQLite and once with a PostgreSQL DATABASE_URL."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--products",
            type=int,
            default=100_000,
            help="generated products (1,000-200,000; default 100,000)",
        )
        parser.add_argument("--runs", type=int, default=30, help="timed requests per page (5-500)")
        parser.add_argument("--seed", type=int, default=424242, help="catalog generator seed")
        parser.add_argument("--search", default="Willow Gate", help="search text (default: a brand)")
        parser.add_argument("--category", default="Garden", help="category of the filter case")

    def handle(self, *args, products: int, runs: int, seed: int, search: str, category: str, **options):
        if not 1_000 <= products <= 200_000:
            raise CommandError("--products must be from 1,000 to 200,000.")
        if not 5 <= runs <= 500:
            raise CommandError("--runs must be from 5 to 500.")
        with benchmark.temporary_workdir() as workdir, benchmark.sandbox(Path(workdir)):
            self.stdout.write(
                f"Database: {connection.vendor} (throw-away copy); {products:,} products x 4 tones, "
                f"two model versions; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
            )
            with tqdm(
                total=products, unit=" products", desc="catalog", file=self.stderr._out, leave=False
            ) as bar:
                benchmark_pages.catalog_fill(products=products, seed=seed, progress=bar.update)
            cases = benchmark_pages.page_cases(category=category, search=search)
            results = benchmark_pages.measure_pages(
                client=benchmark_pages.marketer_client(), cases=cases, runs=runs
            )
            self.stdout.write(benchmark_pages.format_results(results))
            self.stdout.write(f"{runs} timed requests per page; load average after {os.getloadavg()[0]:.1f}")
