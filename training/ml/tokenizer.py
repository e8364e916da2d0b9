"""Byte-level BPE tokenizer trained on the training split, with special tokens for fields and tones.

Digits are split one per token before BPE: a price or a size then reaches the model as the same few
digit tokens in the prompt and in the copy, so reproducing a number is a plain copy, and a number
never seen in training still has a tokenization the model knows.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from training.ml.channels import CHANNELS

TONES: tuple[str, ...] = ("bold", "luxury", "value", "playful")

PAD = "<|pad|>"
EOS = "<|eos|>"
FIELD_TOKENS = {
    "brand": "<|brand|>",
    "category": "<|category|>",
    "title": "<|title|>",
    "price": "<|price|>",
    "description": "<|description|>",
}
OUTPUT_TOKENS = {"headline": "<|headline|>", "body": "<|body|>", "cta": "<|cta|>"}
TONE_TOKENS = {tone: f"<|tone:{tone}|>" for tone in TONES}
BRAND_SLOT = "<|slot:brand|>"
"""Stands for the product's brand wherever it occurs in the prompt and the reference copy (see
formatting.delexicalise): the model learns *where* a brand goes, never *which* brand, and decoding
fills the slot from the input. Last of the special tokens, so older artifacts keep their ids."""
NOUN_SLOT = "<|slot:noun|>"
"""Stands for the product's noun ("Electric Guitar", "Cutting Board": see formatting.product_noun) in
the same way: the model learns where the product is named, and decoding writes the input's own noun.
After the brand slot, so an artifact with a brand slot but no noun slot keeps its ids."""
CHANNEL_TOKENS = {name: f"<|channel:{name}|>" for name in CHANNELS}
"""The channel a creative is written for (training/ml/channels.py), read after the tone: the model
learns each channel's length and style from its reference creatives. After the slots, so older
artifacts keep their ids; an artifact without them writes for any channel from the generic prompt,
and decoding still keeps the channel's limits."""

ALL_SPECIAL_TOKENS: list[str] = [
    PAD,
    EOS,
    *FIELD_TOKENS.values(),
    *TONE_TOKENS.values(),
    *OUTPUT_TOKENS.values(),
    BRAND_SLOT,
    NOUN_SLOT,
    *CHANNEL_TOKENS.values(),
]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE over `texts`; the special tokens take the first ids (pad = 0, eos = 1)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=ALL_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,
        eos_token=EOS,
        additional_special_tokens=[token for token in ALL_SPECIAL_TOKENS if token not in (PAD, EOS)],
        clean_up_tokenization_spaces=False,
        model_max_length=1_000_000,
    )


def load_pretrained_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """The tokenizer saved in a pretrained model folder, with this project's special tokens added.

    The pretrained eos/pad tokens stay as they are for the model's own sake; generation stops on
    `<|eos|>` and batches pad with the tokenizer's pad token (`<|pad|>` when it had none).
    """
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    missing = [token for token in ALL_SPECIAL_TOKENS if token not in tokenizer.get_vocab()]
    tokenizer.add_special_tokens(
        {"additional_special_tokens": missing}, replace_additional_special_tokens=False
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = PAD
    tokenizer.padding_side = "left"
    return tokenizer


def has_tokenizer(path: str | Path) -> bool:
    folder = Path(path)
    return any((folder / name).exists() for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json"))


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """The tokenizer of a saved CreativeOps artifact."""
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
