"""The training loop: plain PyTorch, seeded and repeatable, with early stopping on validation loss."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from transformers import get_cosine_schedule_with_warmup

from training.ml.artifact import (
    build_manifest,
    ensure_free,
    save_model_files,
    staged_directory,
    write_manifest,
)
from training.ml.config import TrainingConfig
from training.ml.data import EncodedRows, bucketed_batches, collate, epoch_rows
from training.ml.evaluate import (
    channel_metrics,
    copy_title_baseline,
    evaluate_asset_sets,
    evaluate_generator,
    evaluate_out_of_distribution,
)
from training.ml.generator import CreativeGenerator
from training.ml.metrics import OOD_METRICS
from training.ml.modeling import autocast_for, mean_target_loss, parameter_count, perplexity, target_loss
from training.ml.preparation import PreparedTraining, auto_thread_count, prepare_training, torch_threads
from training.ml.tokenizer import TONES

__all__ = [  # torch_threads, prepare_training and auto_thread_count are re-exported for callers
    "FitOutcome",
    "ProgressCallback",
    "TrainingResult",
    "auto_thread_count",
    "fit_model",
    "prepare_training",
    "torch_threads",
    "train_model",
]

ProgressCallback = Callable[[int, int, int, dict | None], None]
"""(step, total_steps, epoch, metrics): metrics is None on a step, the epoch's dict at its end.
Raising from the callback cancels training; no artifact is written then."""


@dataclass
class TrainingResult:
    artifact_dir: Path
    metrics: dict
    history: list[dict]
    steps: int
    tokens_seen: int
    train_seconds: float
    tokens_per_second: float
    parameter_count: int


@dataclass
class FitOutcome:
    history: list[dict] = field(default_factory=list)
    steps: int = 0
    tokens_seen: int = 0
    train_seconds: float = 0.0
    best_epoch: int = 0


def optimizer_for(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only (not biases, norms or other vectors)."""
    decay, no_decay = [], []
    for _, parameter in model.named_parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate, fused=True)  # one kernel, not one per tensor


def planned_steps(train: EncodedRows, config: TrainingConfig) -> int:
    per_epoch = math.ceil(
        len(epoch_rows(train, config.tones_per_product, config.seed, 0)) / config.batch_size
    )
    total = per_epoch * config.epochs
    return min(total, config.max_steps) if config.max_steps else total


def fit_model(
    prepared: PreparedTraining, config: TrainingConfig, callback: ProgressCallback | None = None
) -> FitOutcome:
    """Run the loop; `prepared.model` ends with the weights of its best validation epoch, in eval mode."""
    return _Loop(prepared, config, callback).run()


class _Loop:
    def __init__(self, prepared: PreparedTraining, config: TrainingConfig, callback: ProgressCallback | None):
        self.prepared, self.config, self.callback = prepared, config, callback
        self.model, self.device, self.train = prepared.model, prepared.device, prepared.train
        self.optimizer = optimizer_for(self.model, config)
        self.total_steps = planned_steps(self.train, config)
        warmup_steps = math.ceil(config.warmup_ratio * self.total_steps)
        self.schedule = get_cosine_schedule_with_warmup(self.optimizer, warmup_steps, self.total_steps)
        self.fit = FitOutcome()

    def run(self) -> FitOutcome:
        config, fit = self.config, self.fit
        best_loss, best_state, stale_epochs = math.inf, None, 0
        for epoch in range(1, config.epochs + 1):
            started = time.perf_counter()
            train_loss = self._epoch(epoch)
            epoch_seconds = time.perf_counter() - started
            fit.train_seconds += epoch_seconds
            val_loss = mean_target_loss(
                self.model,
                self.prepared.validation,
                self.prepared.ids.pad,
                config.eval_batch_size,
                self.device,
            )
            metrics = {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_perplexity": perplexity(val_loss),
                "learning_rate": self.schedule.get_last_lr()[0],
                "epoch_seconds": epoch_seconds,
                "steps": fit.steps,
            }
            fit.history.append(metrics)
            if self.callback is not None:
                self.callback(fit.steps, self.total_steps, epoch, dict(metrics))
            if math.isnan(val_loss) or val_loss < best_loss:  # no validation rows: keep the last epoch
                best_loss, fit.best_epoch, stale_epochs = val_loss, epoch, 0
                best_state = {
                    name: tensor.detach().clone() for name, tensor in self.model.state_dict().items()
                }
            else:
                stale_epochs += 1
            patience = config.early_stopping_patience
            if fit.steps >= self.total_steps or (patience is not None and stale_epochs >= patience):
                break
        self.model.load_state_dict(best_state)
        self.model.eval()
        return fit

    def _epoch(self, epoch: int) -> float:
        """One pass over the epoch's rows; returns the mean train loss per target token."""
        config, fit, train = self.config, self.fit, self.train
        self.model.train()
        indices = epoch_rows(train, config.tones_per_product, config.seed, epoch - 1)
        batches = bucketed_batches(train, indices, config.batch_size, config.seed * 100_003 + epoch)
        loss_sum, target_tokens = torch.zeros((), device=self.device), 0
        for batch_indices in batches:
            if fit.steps >= self.total_steps:
                break
            loss_sum += self._step(batch_indices)
            target_tokens += train.target_tokens(batch_indices)
            fit.tokens_seen += train.tokens(batch_indices)
            fit.steps += 1
            if self.callback is not None:
                self.callback(fit.steps, self.total_steps, epoch, None)
        return loss_sum.item() / max(target_tokens, 1)  # the epoch's one device sync

    def _step(self, batch_indices: list[int]) -> torch.Tensor:
        batch = {
            name: tensor.to(self.device, non_blocking=True)
            for name, tensor in collate(self.train, batch_indices, self.prepared.ids.pad).items()
        }
        with autocast_for(self.config.precision, self.device):
            summed = target_loss(self.model, batch)
        (summed / self.train.target_tokens(batch_indices)).backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        return summed.detach()


def train_model(
    frame: pd.DataFrame,
    config: TrainingConfig,
    output_dir: str | Path,
    progress_callback: ProgressCallback | None = None,
    dataset_info: dict | None = None,
    *,
    known_brands: Iterable[str] | None = None,
    known_nouns: Iterable[str] | None = None,
    known_features: Iterable[str] | None = None,
    known_materials: Iterable[str] | None = None,
    ood_frame: pd.DataFrame | None = None,
) -> TrainingResult:
    """Train on the frame's train split, evaluate on its test split, publish the artifact atomically.

    `known_brands` / `known_nouns` / `known_features` are the catalog vocabulary for fact fidelity
    and for the generator's fact guard (stored in the manifest); brands default to those in the
    frame, nouns and features to none (then only numbers and brands are checked); `known_materials`
    tells the guard which features are materials. `ood_frame`, the
    out-of-distribution set, is scored too (one tone per product, at most `eval_max_items` rows):
    its metrics are `ood_*`.
    """
    started = time.perf_counter()
    ensure_free(output_dir)  # fail before training, not after it
    with torch_threads(config.num_threads) as threads:
        prepared = prepare_training(frame, config)
        fit = fit_model(prepared, config, progress_callback)
        count = parameter_count(prepared.model)
        best = fit.history[fit.best_epoch - 1]
        metrics = {
            "train_loss": best["train_loss"],
            "val_loss": best["val_loss"],
            "val_perplexity": best["val_perplexity"],
            "best_epoch": fit.best_epoch,
            "epochs_run": len(fit.history),
            "steps": fit.steps,
            "tokens_seen": fit.tokens_seen,
            "train_seconds": fit.train_seconds,
            "tokens_per_second": fit.tokens_seen / max(fit.train_seconds, 1e-9),
            "parameter_count": count,
            "num_threads": threads,
        }
        if known_brands is None:
            known_brands = sorted({str(brand) for brand in prepared.rows["brand"].dropna()})
        manifest_fields = {
            "preset": config.preset,
            "training_config": config.to_dict(),
            "dataset": dataset_info or {},
            "parameter_count": count,
            "prompt_format": {
                "max_source_tokens": config.max_source_tokens,
                "max_target_tokens": config.max_target_tokens,
                "tones": list(TONES),
            },
            "history": fit.history,
            # what the generator's fact guard keeps a creative from naming unless its input does
            "fact_vocabulary": {
                "brands": sorted(known_brands),
                "nouns": sorted(known_nouns or ()),
                "features": sorted(known_features or ()),
                "materials": sorted(known_materials or ()),  # which features are materials
            },
        }
        with staged_directory(output_dir) as staging:
            save_model_files(
                staging,
                prepared.model,
                prepared.tokenizer,
                eos_id=prepared.ids.eos,
                pad_id=prepared.ids.pad,
                max_new_tokens=config.max_target_tokens,
            )
            write_manifest(staging, build_manifest(staging, **manifest_fields, metrics=metrics))
            vocabulary = {
                "known_brands": known_brands,
                "known_nouns": known_nouns,
                "known_features": known_features,
            }
            evaluation = _evaluate(staging, prepared, config, vocabulary, ood_frame)
            metrics.update(evaluation.pop("metrics", {}))
            metrics["wall_seconds"] = time.perf_counter() - started
            manifest_fields["evaluation"] = evaluation
            write_manifest(staging, build_manifest(staging, **manifest_fields, metrics=metrics))
    return TrainingResult(
        artifact_dir=Path(output_dir),
        metrics=metrics,
        history=fit.history,
        steps=fit.steps,
        tokens_seen=fit.tokens_seen,
        train_seconds=fit.train_seconds,
        tokens_per_second=metrics["tokens_per_second"],
        parameter_count=count,
    )


def _evaluate(
    staging: Path,
    prepared: PreparedTraining,
    config: TrainingConfig,
    vocabulary: dict,
    ood_frame: pd.DataFrame | None,
) -> dict:
    """Test-split metrics of the staged artifact, loaded (and verified) as serving will load it."""
    available = set(prepared.rows["split"])
    split = "test" if "test" in available else ("validation" if "validation" in available else None)
    if not config.eval_max_items or split is None:
        return {"split": None}
    generator = CreativeGenerator.load(staging, device=str(prepared.device))
    scope = {"split": split, "max_items": config.eval_max_items, **vocabulary}
    model_metrics = evaluate_generator(generator, prepared.rows, batch_size=config.eval_batch_size, **scope)
    baseline = copy_title_baseline(prepared.rows, **scope)
    metrics = {
        "rouge_l": model_metrics["rouge_l"],
        "fact_fidelity": model_metrics["fact_fidelity"],
        "distinct_2": model_metrics["distinct_2"],
        "lint_pass_rate": model_metrics["lint_pass_rate"],
        "latency_ms_per_item": model_metrics["latency_ms_per_item"],
        "eval_loss": model_metrics["loss"],
        "eval_perplexity": model_metrics["perplexity"],
        "eval_items": model_metrics["items"],
        "limit_compliance": model_metrics["limit_compliance"],
        **{
            f"baseline_{name}": baseline[name]
            for name in ("rouge_l", "fact_fidelity", "distinct_2", "lint_pass_rate")
        },
        **channel_metrics(model_metrics),
        **channel_metrics(baseline, prefix="baseline_"),
    }
    if "google_search" in set(prepared.rows["channel"]):
        sets = evaluate_asset_sets(
            generator, prepared.rows, "google_search", split=split, batch_size=config.eval_batch_size
        )
        metrics.update({f"google_search_{name}": value for name, value in sets.items() if name != "channel"})
    evaluation = {"split": split, "items": model_metrics["items"], "metrics": metrics}
    if ood_frame is not None and not ood_frame.empty:
        ood = evaluate_out_of_distribution(
            generator,
            ood_frame,
            **vocabulary,
            max_items=config.eval_max_items,
            batch_size=config.eval_batch_size,
        )
        metrics.update({f"ood_{name}": ood[name] for name in (*OOD_METRICS, "items")})
        evaluation["ood"] = {key: ood[key] for key in ("items", "foreign_brand_examples", "sample")}
    return evaluation
