"""The same model on the same tokenized data with `transformers.Trainer`, for the speed benchmark.

The question the benchmark answers: does our loop train at least as many tokens per second as the
stock Trainer with the same batch size, epochs, learning-rate schedule and no evaluation?
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from transformers import PrinterCallback, Trainer, TrainingArguments

from training.ml.config import TrainingConfig
from training.ml.data import EncodedRows, collate
from training.ml.modeling import uses_bf16
from training.ml.preparation import auto_thread_count, prepare_training, torch_threads
from training.ml.train import train_model


class _EncodedDataset(torch.utils.data.Dataset):
    def __init__(self, encoded: EncodedRows):
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, index: int) -> int:
        return index


def train_with_hf_trainer(frame: pd.DataFrame, config: TrainingConfig, output_dir: str | Path) -> dict:
    """Train with `Trainer`; returns {tokens_per_second, seconds, tokens} (non-padding tokens)."""
    with torch_threads(config.num_threads):
        prepared = prepare_training(frame, config)
        train = prepared.train
        arguments = TrainingArguments(
            output_dir=str(output_dir),
            per_device_train_batch_size=config.batch_size,
            num_train_epochs=config.epochs,
            max_steps=config.max_steps or -1,
            learning_rate=config.learning_rate,
            weight_decay=config.weight_decay,
            warmup_ratio=config.warmup_ratio,
            lr_scheduler_type="cosine",
            max_grad_norm=config.grad_clip,
            seed=config.seed,
            data_seed=config.seed,
            eval_strategy="no",
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
            dataloader_num_workers=0,
            use_cpu=prepared.device.type == "cpu",
            bf16=uses_bf16(config.precision, prepared.device),
        )
        trainer = Trainer(
            model=prepared.model,
            args=arguments,
            train_dataset=_EncodedDataset(train),
            data_collator=lambda indices: collate(train, list(indices), prepared.ids.pad),
        )
        trainer.remove_callback(PrinterCallback)  # no console log lines from a library function
        started = time.perf_counter()
        outcome = trainer.train()
        seconds = time.perf_counter() - started
    steps = outcome.global_step
    batches_per_epoch = -(-len(train) // config.batch_size)
    tokens = round(train.tokens(list(range(len(train)))) * steps / batches_per_epoch)
    return {"tokens_per_second": tokens / seconds, "seconds": seconds, "tokens": tokens, "steps": steps}


def benchmark_training(frame: pd.DataFrame, config: TrainingConfig) -> dict:
    """Our loop and the Trainer on every training row (no tone sampling), one after the other.

    Both run with the same thread count (resolved once when the config leaves it open).
    """
    config = dataclasses.replace(
        config,
        tones_per_product=None,
        early_stopping_patience=None,
        eval_max_items=0,
        num_threads=config.num_threads or auto_thread_count(),
    )
    with tempfile.TemporaryDirectory() as scratch:
        ours = train_model(frame, config, Path(scratch) / "ours")
        theirs = train_with_hf_trainer(frame, config, Path(scratch) / "trainer")
    return {
        "ours_tokens_per_second": ours.tokens_per_second,
        "ours_seconds": ours.train_seconds,
        "ours_tokens": ours.tokens_seen,
        "trainer_tokens_per_second": theirs["tokens_per_second"],
        "trainer_seconds": theirs["seconds"],
        "trainer_tokens": theirs["tokens"],
        "ratio": ours.tokens_per_second / theirs["tokens_per_second"],
        "num_threads": config.num_threads,
    }
