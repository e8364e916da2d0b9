"""From a dataset-version DataFrame to padded tensor batches.

Batches are length-bucketed: a seeded shuffle, then sorting inside windows of fifty batches, so a
batch holds sequences of similar length and dynamic padding wastes little compute, while the order
of batches stays random and identical for the same seed.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import pandas as pd
import torch
from transformers import PreTrainedTokenizerBase

from training.ml.channels import CHANNELS, DEFAULT_CHANNEL
from training.ml.formatting import (
    IGNORE_INDEX,
    SpecialIds,
    build_example,
    delexicalise,
    product_noun,
    source_text,
)
from training.ml.tokenizer import BRAND_SLOT, NOUN_SLOT, TONES

REQUIRED_COLUMNS = ("sku", "title", "description", "split", "tone", "headline", "body", "cta")
OPTIONAL_COLUMNS = ("category", "brand", "price")
# Dataset versions cut before channels have no `channel` column: their creatives are generic.
SPLITS = ("train", "validation", "test")
BUCKET_WINDOW = 50  # batches per sorting window


def prepare_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with a creative (null tone = a product without creatives is dropped), checked."""
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"dataset frame lacks columns: {', '.join(missing)}")
    rows = frame[frame["tone"].notna()].copy()
    for column in OPTIONAL_COLUMNS:
        if column not in rows.columns:
            rows[column] = None
    rows["channel"] = (
        rows["channel"].fillna(DEFAULT_CHANNEL) if "channel" in rows.columns else DEFAULT_CHANNEL
    )
    unknown_channels = sorted(set(rows["channel"]) - set(CHANNELS))
    if unknown_channels:
        raise ValueError(
            f"unknown channels in dataset: {', '.join(map(str, unknown_channels))}; "
            f"allowed: {', '.join(CHANNELS)}"
        )
    unknown_tones = sorted(set(rows["tone"]) - set(TONES))
    if unknown_tones:
        raise ValueError(f"unknown tones in dataset: {', '.join(unknown_tones)}; allowed: {', '.join(TONES)}")
    unknown_splits = sorted(set(rows["split"]) - set(SPLITS))
    if unknown_splits:
        raise ValueError(f"unknown splits in dataset: {', '.join(map(str, unknown_splits))}")
    return rows.sort_values(["sku", "channel", "tone"], kind="stable").reset_index(drop=True)


def split_rows(rows: pd.DataFrame, split: str) -> list[dict]:
    return rows[rows["split"] == split].to_dict("records")


def tokenizer_corpus(rows: list[dict]) -> list[str]:
    """Training texts for the BPE, each field with a leading space as the model will see it; brands are
    taken out (the model sees the brand slot instead), and product nouns out of the copy (which
    writes the noun slot), so the merges follow what the model reads and writes."""
    texts = set()
    for row in rows:
        brand = row.get("brand")
        noun = product_noun(row.get("title"), brand, row.get("description"))
        texts.add(" " + delexicalise(source_text(row), brand).replace(BRAND_SLOT, " "))
        for text in (str(row[name]) for name in ("headline", "body", "cta")):
            texts.add(" " + delexicalise(text, brand, noun).replace(BRAND_SLOT, " ").replace(NOUN_SLOT, " "))
    return sorted(texts)


@dataclass
class EncodedRows:
    sequences: list[list[int]]
    prompt_lengths: list[int]
    groups: list[str]  # the product (sku) of each row, for one-tone-per-product sampling

    def __len__(self) -> int:
        return len(self.sequences)

    def target_tokens(self, indices: list[int]) -> int:
        return sum(len(self.sequences[i]) - self.prompt_lengths[i] for i in indices)

    def tokens(self, indices: list[int]) -> int:
        return sum(len(self.sequences[i]) for i in indices)


def encode_rows(
    tokenizer: PreTrainedTokenizerBase, ids: SpecialIds, rows: list[dict], max_source: int, max_target: int
) -> EncodedRows:
    examples = [build_example(tokenizer, ids, row, max_source, max_target) for row in rows]
    return EncodedRows(
        sequences=[sequence for sequence, _ in examples],
        prompt_lengths=[prompt_length for _, prompt_length in examples],
        groups=[str(row["sku"]) for row in rows],
    )


def stable_order_key(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def epoch_rows(encoded: EncodedRows, tones_per_product: int | None, seed: int, epoch: int) -> list[int]:
    """Row indices of one epoch: all rows, or `tones_per_product` rows per product chosen by seed."""
    if tones_per_product is None:
        return list(range(len(encoded)))
    by_group: dict[str, list[int]] = {}
    for index, group in enumerate(encoded.groups):
        by_group.setdefault(group, []).append(index)
    # Cycle through each product's rows over the epochs in a seeded order, so every tone is seen.
    chosen = []
    for group, indices in sorted(by_group.items()):
        order = sorted(indices, key=lambda index: stable_order_key(seed, group, index))
        start = (epoch * tones_per_product) % len(order)
        chosen += [
            order[(start + offset) % len(order)] for offset in range(min(tones_per_product, len(order)))
        ]
    return sorted(chosen)


def bucketed_batches(encoded: EncodedRows, indices: list[int], batch_size: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    shuffled = list(indices)
    rng.shuffle(shuffled)
    window = batch_size * BUCKET_WINDOW
    batches = []
    for start in range(0, len(shuffled), window):
        chunk = sorted(shuffled[start : start + window], key=lambda index: len(encoded.sequences[index]))
        batches += [chunk[offset : offset + batch_size] for offset in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def sorted_batches(encoded: EncodedRows, batch_size: int) -> list[list[int]]:
    """Deterministic length-sorted batches for evaluation passes."""
    order = sorted(range(len(encoded)), key=lambda index: len(encoded.sequences[index]))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def collate(encoded: EncodedRows, indices: list[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded input ids, attention mask and labels (prompt and padding are IGNORE_INDEX)."""
    width = max(len(encoded.sequences[index]) for index in indices)
    input_ids = torch.full((len(indices), width), pad_id, dtype=torch.long)
    labels = torch.full((len(indices), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(indices), width), dtype=torch.long)
    for row, index in enumerate(indices):
        sequence = torch.tensor(encoded.sequences[index], dtype=torch.long)
        prompt_length = encoded.prompt_lengths[index]
        input_ids[row, : len(sequence)] = sequence
        labels[row, prompt_length : len(sequence)] = sequence[prompt_length:]
        attention_mask[row, : len(sequence)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
