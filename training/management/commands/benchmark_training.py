"""Training benchmarks on a generated catalog, in memory (nothing is written to the database).

    manage.py benchmark_training [--products 2000] [--preset small] [--throughput-steps 200] [--skip-trainer]

(a) throughput: our training loop against `transformers.Trainer` on the same model, data and
    schedule (tokens per second and their ratio), via `training.ml.benchmark_training`; each runs
    the same number of optimizer steps (`--throughput-steps`, default 200: throughput settles
    long before a full training, and two full trainings would triple the benchmark's time);
(b) end-to-end wall time of training the preset (tokenizer + training + evaluation);
(c) quality on the test split: the trained model against the copy-the-title baseline.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from products.generator import VOCABULARY
from products.services import generated_catalog_frame
from training.management.commands._tables import text_table
from training.ml import PRESETS, TrainingConfig, benchmark_training, train_model

CATALOG_SEED = 7


class Command(BaseCommand):
    help = "Benchmark training: our loop vs transformers.Trainer, end-to-end wall time, quality vs baseline."

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=2000, help="Generated products (default 2000).")
        parser.add_argument(
            "--preset", default="small", help=f"Preset: {', '.join(PRESETS)} (default small)."
        )
        parser.add_argument(
            "--epochs", type=int, default=None, help="Override the preset's epochs (for a quicker look)."
        )
        parser.add_argument(
            "--max-steps", type=int, default=None, help="Stop each training after N steps (smoke runs)."
        )
        parser.add_argument(
            "--throughput-steps",
            type=int,
            default=200,
            help="Optimizer steps for each loop in (a), the Trainer comparison (default 200).",
        )
        parser.add_argument(
            "--skip-trainer", action="store_true", help="Skip (a), the comparison with transformers.Trainer."
        )

    def handle(self, *args, **options):
        if options["preset"] not in PRESETS:
            raise CommandError(f"Unknown preset {options['preset']!r}; choose one of: {', '.join(PRESETS)}.")
        if not 10 <= options["products"] <= 200_000:
            raise CommandError(f"--products must be between 10 and 200000, got {options['products']}.")
        config = TrainingConfig.from_preset(options["preset"])
        for name in ("epochs", "max_steps", "throughput_steps"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1, got {options[name]}.")
        for name in ("epochs", "max_steps"):
            if options[name] is not None:
                config = dataclasses.replace(config, **{name: options[name]})
        frame = generated_catalog_frame(options["products"], CATALOG_SEED)
        self.stdout.write(
            f"Catalog: {options['products']:,} generated products (seed {CATALOG_SEED}), "
            f"{len(frame):,} rows; "
            f"preset {config.preset}; torch {torch.__version__} with {torch.get_num_threads()} threads on "
            f"{platform.machine()}."
        )
        throughput = (
            None
            if options["skip_trainer"]
            else self._throughput(frame, config, options["max_steps"] or options["throughput_steps"])
        )
        wall_seconds, metrics = self._end_to_end(frame, config)
        self._print(throughput, wall_seconds, metrics, options["products"], config)

    def _throughput(self, frame: pd.DataFrame, config: TrainingConfig, steps: int) -> dict:
        self.stdout.write(
            f"(a) our loop vs transformers.Trainer, same model, data and schedule, {steps} steps each…"
        )
        return benchmark_training(frame, dataclasses.replace(config, max_steps=steps))

    def _end_to_end(self, frame: pd.DataFrame, config: TrainingConfig) -> tuple[float, dict]:
        self.stdout.write("(b, c) training end to end (tokenizer + training + evaluation)…")
        stream = getattr(self.stderr, "_out", sys.stderr)
        with (
            tempfile.TemporaryDirectory() as scratch,
            tqdm(unit="step", desc=config.preset, file=stream) as bar,
        ):

            def progress(step: int, total_steps: int, epoch: int, metrics: dict | None) -> None:
                if bar.total != total_steps:
                    bar.total = total_steps
                    bar.refresh()
                bar.update(step - bar.n)
                bar.set_postfix_str(f"epoch {epoch}", refresh=False)

            known_brands, known_nouns = VOCABULARY.known_terms(frame)
            started = time.perf_counter()
            result = train_model(
                frame,
                config,
                Path(scratch) / "model",
                progress,
                known_brands=known_brands,
                known_nouns=known_nouns,
            )
            return time.perf_counter() - started, result.metrics

    def _print(
        self, throughput: dict | None, wall_seconds: float, metrics: dict, products: int, config
    ) -> None:
        self.stdout.write("")
        if throughput is not None:
            self.stdout.write("(a) Training throughput (non-padding tokens per second, every training row)")
            self.stdout.write(
                text_table(
                    ["loop", "tokens/s", "seconds", "tokens"],
                    [
                        [
                            "ours",
                            throughput["ours_tokens_per_second"],
                            throughput["ours_seconds"],
                            throughput["ours_tokens"],
                        ],
                        [
                            "transformers.Trainer",
                            throughput["trainer_tokens_per_second"],
                            throughput["trainer_seconds"],
                            throughput["trainer_tokens"],
                        ],
                    ],
                )
            )
            self.stdout.write(f"ours / Trainer = {throughput['ratio']:.2f}x")
            self.stdout.write("")
        self.stdout.write(f"(b) End to end, preset {config.preset} on {products:,} products")
        self.stdout.write(
            text_table(
                ["measure", "value"],
                [
                    ["wall seconds (tokenizer + train + eval)", wall_seconds],
                    ["training seconds", metrics.get("train_seconds")],
                    ["epochs run (best)", f"{metrics.get('epochs_run')} ({metrics.get('best_epoch')})"],
                    ["steps", metrics.get("steps")],
                    ["tokens/s", metrics.get("tokens_per_second")],
                    ["parameters", metrics.get("parameter_count")],
                    ["validation loss", metrics.get("val_loss")],
                ],
            )
        )
        self.stdout.write("")
        self.stdout.write(f"(c) Quality on the test split ({metrics.get('eval_items', '?')} creatives)")
        self.stdout.write(
            text_table(
                ["metric", "model", "copy-the-title baseline"],
                [
                    [name, metrics.get(name), metrics.get(f"baseline_{name}")]
                    for name in ("rouge_l", "fact_fidelity", "distinct_2")
                ],
            )
        )
