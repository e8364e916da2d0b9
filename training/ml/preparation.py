"""Everything before the first training step: threads, checked rows, tokenizer, model, encoded splits.

Our loop and the `transformers.Trainer` benchmark both start from `prepare_training`, so they train
the same model on the same tokens.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, set_seed

from training.ml.config import TrainingConfig
from training.ml.data import (
    EncodedRows,
    encode_rows,
    prepare_frame,
    split_rows,
    stable_order_key,
    tokenizer_corpus,
)
from training.ml.formatting import SpecialIds
from training.ml.modeling import build_model, load_pretrained_model, resolve_device
from training.ml.tokenizer import has_tokenizer, load_pretrained_tokenizer, train_tokenizer


@dataclass
class PreparedTraining:
    """Everything the loop needs, built the same way for our loop and the Trainer benchmark."""

    rows: pd.DataFrame
    tokenizer: PreTrainedTokenizerBase
    ids: SpecialIds
    model: PreTrainedModel
    train: EncodedRows
    validation: EncodedRows
    device: torch.device


def auto_thread_count() -> int:
    """Threads for a config that leaves `num_threads` open: the cores torch would use, less busy ones.

    OpenMP's spinning barriers collapse when threads outnumber free cores: on the 2-core development
    box with a load average near 9, a training step of the `small` model ran 10-18x slower on two
    threads than on one. Cores that the 1-minute load average says are busy are therefore not used.
    """
    cores = torch.get_num_threads()
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cores, round(cores - busy + 0.25)))  # 2 cores: two threads below a load of 0.75


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[int]:
    """Run the block with `count` torch threads (auto when None), restoring the previous number."""
    previous = torch.get_num_threads()
    chosen = count or auto_thread_count()
    torch.set_num_threads(chosen)
    try:
        yield chosen
    finally:
        torch.set_num_threads(previous)


def prepare_training(frame: pd.DataFrame, config: TrainingConfig) -> PreparedTraining:
    """Checked rows, tokenizer (trained on the train split, or the pretrained one), model, encoded splits."""
    config.validate()
    set_seed(config.seed)
    rows = prepare_frame(frame)
    train_rows = split_rows(rows, "train")
    if not train_rows:
        raise ValueError("dataset has no training rows with a creative")
    if config.pretrained_path and has_tokenizer(config.pretrained_path):
        tokenizer = load_pretrained_tokenizer(config.pretrained_path)
    else:
        tokenizer = train_tokenizer(tokenizer_corpus(train_rows), config.vocab_size)
    ids = SpecialIds.of(tokenizer)
    if config.pretrained_path:
        model = load_pretrained_model(config.pretrained_path, len(tokenizer))
        _check_context_length(model, config)
    else:
        model = build_model(config, len(tokenizer), ids)
    validation_rows = sorted(
        split_rows(rows, "validation"), key=lambda row: stable_order_key(row["sku"], row["tone"])
    )
    validation_rows = validation_rows[: config.validation_max_items]

    def encode(selected: list[dict]) -> EncodedRows:
        return encode_rows(tokenizer, ids, selected, config.max_source_tokens, config.max_target_tokens)

    device = resolve_device(config.device)
    return PreparedTraining(
        rows, tokenizer, ids, model.to(device), encode(train_rows), encode(validation_rows), device
    )


def _check_context_length(model: PreTrainedModel, config: TrainingConfig) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    needed = config.max_source_tokens + config.max_target_tokens
    if limit is not None and limit < needed:
        raise ValueError(
            f"pretrained model handles {limit} positions but max_source_tokens + max_target_tokens = {needed}"
        )
