"""Training benchmarks on a generated catalog, in memory (nothing is written to the database).

    manage.py benchmark_training [--products 2000] [--preset small] [--throughput-steps 200] [--skip-trainer]

(a) throughput: our training loop against `transformers.Trainer` on the same model, data and
    schedule (tokens per second and their ratio), via `training.ml.benchmark_training`; each runs
    the same number of optimizer steps (`--throughput-steps`, default 200: throughput settles
    long before a full training, and two full trainings would triple the benchmark's time);
(b) end-to-end wall time of training the preset (tokenizer + training + evaluation);
(c) quality on the test split: the trained model against the copy-the-title baseline;
(d) the out-of-distribution set (`products/fixtures/ood_products.json`: real-world products, brands
    and kinds the generator never writes; never trained on), every product in every tone, and the
    targets: foreign-brand rate 0, own-fact rate >= 0.95, no foreign number, distinct-2 at least
    0.8 x the test split's, ROUGE-L above the copy-the-title baseline, test fidelity >= 0.99 and
    the preset's training under 3 minutes;
(e) per channel (generic, google_search, meta_feed: training/ml/channels.py) on the test split:
    ROUGE-L against the copy-the-title baseline cut to the channel's limits, fact fidelity,
    ad-policy pass rate, limit compliance, distinct-2; and asset sets (training/ml/asset_sets.py)
    for every test product: completeness, distinct headlines within a set and across the catalog.
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
from training.ml import (
    OOD_METRICS,
    PRESETS,
    CreativeGenerator,
    TrainingConfig,
    benchmark_training,
    evaluate_asset_sets,
    evaluate_out_of_distribution,
    train_model,
)
from training.ml.channels import CHANNELS
from training.services.ood import ood_frame_in_memory

CATALOG_SEED = 7
TRAINING_SECONDS_TARGET = 180
ASSET_SET_CHANNELS = ("google_search", "meta_feed")


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
        parser.add_argument(
            "--keep-model",
            default=None,
            help="Write the trained model to this new folder and keep it (default: a temporary folder).",
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
        ood_frame = ood_frame_in_memory()
        keep_model = options["keep_model"]
        wall_seconds, metrics, ood, sets = self._end_to_end(frame, config, ood_frame, keep_model)
        self._print(throughput, wall_seconds, metrics, options["products"], config)
        self._print_targets(wall_seconds, metrics, ood, ood_frame, sets)

    def _throughput(self, frame: pd.DataFrame, config: TrainingConfig, steps: int) -> dict:
        self.stdout.write(
            f"(a) our loop vs transformers.Trainer, same model, data and schedule, {steps} steps each…"
        )
        return benchmark_training(frame, dataclasses.replace(config, max_steps=steps))

    def _end_to_end(
        self, frame: pd.DataFrame, config: TrainingConfig, ood_frame: pd.DataFrame, keep_model: str | None
    ) -> tuple[float, dict, dict]:
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

            started = time.perf_counter()
            result = train_model(
                frame,
                config,
                Path(keep_model) if keep_model else Path(scratch) / "model",
                progress,
                **VOCABULARY.known_terms(frame),
                known_materials=VOCABULARY.all_materials,
            )
            wall_seconds = time.perf_counter() - started
            bar.close()
            self.stdout.write("(d) the out-of-distribution set, every product in every tone…")
            ood = evaluate_out_of_distribution(
                CreativeGenerator.load(result.artifact_dir),
                ood_frame,
                **VOCABULARY.known_terms(frame, ood_frame),
                tones_per_product=None,
                batch_size=config.eval_batch_size,
            )
            self.stdout.write("(e) asset sets for every test product…")
            generator = CreativeGenerator.load(result.artifact_dir)
            sets = {
                channel: evaluate_asset_sets(
                    generator, frame, channel, max_products=None, batch_size=config.eval_batch_size
                )
                for channel in ASSET_SET_CHANNELS
                if channel in set(frame.get("channel", pd.Series(dtype=str)).dropna())
            }
            return wall_seconds, result.metrics, ood, sets

    def _print_channels(self, metrics: dict, sets: dict) -> None:
        channels = [channel for channel in CHANNELS if f"{channel}_items" in metrics]
        if not channels:
            return
        self.stdout.write("")
        self.stdout.write(
            "(e) Per channel on the test split (the copy-the-title baseline cut by whole words to the "
            "channel's limits)"
        )
        rows = [
            [
                channel,
                metrics[f"{channel}_items"],
                metrics.get(f"{channel}_rouge_l"),
                metrics.get(f"baseline_{channel}_rouge_l"),
                metrics.get(f"{channel}_fact_fidelity"),
                metrics.get(f"{channel}_lint_pass_rate"),
                metrics.get(f"{channel}_limit_compliance"),
                metrics.get(f"{channel}_distinct_2"),
            ]
            for channel in channels
        ]
        headers = [
            "channel",
            "items",
            "ROUGE-L",
            "baseline",
            "fidelity",
            "lint pass",
            "compliance",
            "distinct-2",
        ]
        self.stdout.write(text_table(headers, rows))
        if sets:
            self.stdout.write("")
            self.stdout.write("Asset sets (one creative per tone per product, completed from its own facts)")
            self.stdout.write(
                text_table(
                    ["channel", "products", "complete", "distinct in set", "distinct in catalog",
                     "asset lint pass", "asset compliance"],
                    [
                        [channel, part["products"], part["completeness"], part["distinct_headlines_in_set"],
                         part["distinct_headlines_catalog"], part["asset_lint_pass_rate"],
                         part["asset_limit_compliance"]]
                        for channel, part in sets.items()
                    ],
                )
            )  # fmt: skip

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
                    for name in ("rouge_l", "fact_fidelity", "distinct_2", "lint_pass_rate")
                ],
            )
        )

    def _print_targets(
        self, wall_seconds: float, metrics: dict, ood: dict, ood_frame: pd.DataFrame, sets: dict
    ) -> None:
        products, tones = ood_frame["sku"].nunique(), ood_frame["tone"].nunique()
        self.stdout.write("")
        self.stdout.write(
            f"(d) Out-of-distribution set: {products} real-world products x {tones} tones "
            f"= {ood['items']} creatives (never trained on)"
        )
        self.stdout.write(
            text_table(["metric", "out-of-distribution"], [[name, ood[name]] for name in OOD_METRICS])
        )
        for example in ood["foreign_brand_examples"]:
            self.stdout.write(f"  foreign brand {', '.join(example['foreign_brands'])}: {example['text']}")
        for row in ood["sample"][:3]:
            self.stdout.write(
                f"  e.g. {row['title'][:60]} ({row['tone']}): {row['headline']} | {row['body']}"
            )
        test_distinct = metrics.get("distinct_2") or 0.0
        targets = [
            ["OOD foreign-brand rate", ood["foreign_brand_rate"], "= 0.000", ood["foreign_brand_rate"] == 0],
            ["OOD own-fact rate", ood["own_fact_rate"], ">= 0.95", ood["own_fact_rate"] >= 0.95],
            [
                "OOD number fidelity (no foreign number)",
                ood["number_fidelity"],
                "= 1.000",
                ood["number_fidelity"] == 1,
            ],
            [
                "OOD distinct-2 / test split distinct-2",
                ood["distinct_2"] / test_distinct if test_distinct else None,
                ">= 0.80",
                bool(test_distinct) and ood["distinct_2"] >= 0.8 * test_distinct,
            ],
            [
                "test ROUGE-L - copy-the-title baseline",
                (metrics.get("rouge_l") or 0.0) - (metrics.get("baseline_rouge_l") or 0.0),
                "> 0",
                (metrics.get("rouge_l") or 0.0) > (metrics.get("baseline_rouge_l") or 0.0),
            ],
            [
                "test fact fidelity",
                metrics.get("fact_fidelity"),
                ">= 0.99",
                (metrics.get("fact_fidelity") or 0) >= 0.99,
            ],
            [
                "wall seconds (tokenizer + train + eval)",
                wall_seconds,
                f"< {TRAINING_SECONDS_TARGET}",
                wall_seconds < TRAINING_SECONDS_TARGET,
            ],
            *_channel_targets(metrics, sets),
        ]
        self._print_channels(metrics, sets)
        self.stdout.write("")
        self.stdout.write("Targets")
        self.stdout.write(text_table(["target", "value", "required", "met"], targets))


def _channel_targets(metrics: dict, sets: dict) -> list[list]:
    """The issue's per-channel targets: compliance 1, fidelity and lint pass >= 0.99, ROUGE-L above the
    cut copy-the-title baseline; asset sets complete >= 0.98, distinct headlines in the catalog >= 0.8."""
    targets = []
    for channel in (channel for channel in CHANNELS if f"{channel}_items" in metrics):
        compliance = metrics.get(f"{channel}_limit_compliance") or 0.0
        fidelity = metrics.get(f"{channel}_fact_fidelity") or 0.0
        lint = metrics.get(f"{channel}_lint_pass_rate") or 0.0
        gain = (metrics.get(f"{channel}_rouge_l") or 0.0) - (
            metrics.get(f"baseline_{channel}_rouge_l") or 0.0
        )
        targets += [
            [f"{channel}: limit compliance", compliance, "= 1.000", compliance == 1.0],
            [f"{channel}: fact fidelity", fidelity, ">= 0.99", fidelity >= 0.99],
            [f"{channel}: ad-policy lint pass", lint, ">= 0.99", lint >= 0.99],
            [f"{channel}: ROUGE-L - cut baseline", gain, "> 0", gain > 0],
        ]
    for channel, part in sets.items():
        targets += [
            [f"{channel} sets: complete", part["completeness"], ">= 0.98", part["completeness"] >= 0.98],
            [
                f"{channel} sets: distinct headlines in catalog",
                part["distinct_headlines_catalog"],
                ">= 0.80",
                part["distinct_headlines_catalog"] >= 0.8,
            ],
        ]
    return targets
