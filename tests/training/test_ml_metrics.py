"""Metrics, formatting and the loss mask of training/ml on hand-made examples (no training)."""

import dataclasses
import math

import pandas as pd
import pytest
import torch

from tests.training.ml_data import _clean_cache, _isolated_storage  # noqa: F401  (no-Django fixtures)
from training.ml.config import TrainingConfig
from training.ml.data import EncodedRows, collate, encode_rows, prepare_frame
from training.ml.evaluate import copy_title_baseline
from training.ml.formatting import (
    IGNORE_INDEX,
    SpecialIds,
    build_example,
    encode_prompt,
    labels_for,
    parse_generation,
    source_text,
)
from training.ml.metrics import (
    FactChecker,
    distinct_n,
    fact_fidelity,
    numbers_in,
    paired_bootstrap_interval,
    rouge_l_f1,
    word_tokens,
)
from training.ml.number_guard import NumberGuard
from training.ml.tokenizer import CHANNEL_TOKENS, TONE_TOKENS, train_tokenizer


def test_rouge_l_is_lcs_f1_over_lowercase_words():
    # LCS of "the cat sat on the mat" / "The cat is on the mat" is "the cat on the mat": 5 of 6 and 6.
    assert rouge_l_f1("the cat sat on the mat", "The cat is on the mat") == pytest.approx(5 / 6)
    # LCS "a c" = 2: precision 2/3, recall 2/4, F1 = 2 * (2/3 * 1/2) / (2/3 + 1/2) = 4/7.
    assert rouge_l_f1("a b c", "a c d e") == pytest.approx(4 / 7)
    assert rouge_l_f1("Same words.", "same WORDS") == 1.0
    assert rouge_l_f1("", "anything") == 0.0
    assert rouge_l_f1("x y", "a b") == 0.0


def test_word_tokens_keep_prices_and_contractions_whole():
    assert word_tokens("Only $49.99 - don't wait!") == ["only", "49.99", "don't", "wait"]


def test_distinct_2_pools_bigrams_over_outputs():
    # bigrams: (a b) (b c) | (a b) (b d) -> 3 unique of 4
    assert distinct_n(["a b c", "A b d"], 2) == 0.75
    assert distinct_n(["one"], 2) == 0.0
    assert distinct_n(["a b", "c d"], 2) == 1.0


def test_numbers_are_compared_by_value():
    assert numbers_in("1,200 units at 50.00 or 1.70 L") == {"1200", "50", "1.7"}


def test_fact_fidelity_on_hand_made_examples():
    source = "Nova Steel Kettle 1.7 L. The Nova kettle boils in 3 minutes. 49.99"
    brands, nouns = ["Nova", "Orbit"], ["kettle", "toaster", "tea set"]
    outputs = [
        "Meet the Nova kettle: 1.7 L for 49.99",  # faithful
        "Two Nova kettles, 1.7 L each",  # plural of its own noun: faithful, "Two" is no digit
        "Nova kettle, now 20% off",  # invented number
        "Orbit quality in a kettle",  # another known brand
        "The Nova toaster",  # a noun the product does not have
        "Nova kettle with a tea set",  # multi-word noun not in the input
    ]
    sources, own_brands = [source] * len(outputs), ["Nova"] * len(outputs)
    assert fact_fidelity(outputs, sources, own_brands, brands, nouns) == pytest.approx(2 / 6)
    # Without a vocabulary only numbers are checked: only the "20%" output fails.
    assert fact_fidelity(outputs, sources) == pytest.approx(5 / 6)
    checker = FactChecker(brands, nouns)
    assert checker.violations(outputs[2], source, "Nova") == ["number 20"]
    assert checker.violations(outputs[3], source, "Nova") == ["brand Orbit"]
    assert checker.violations(outputs[5], source, "Nova") == ["noun tea set"]
    assert fact_fidelity([], []) == 0.0


def test_a_brand_named_in_the_input_counts_as_from_the_input():
    source = "Nova charger, works with Orbit phones"
    assert FactChecker(["Nova", "Orbit"]).is_faithful("Charge your Orbit with Nova", source, "Nova")


def test_parse_generation_is_robust():
    text = "<|headline|> Big news<|body|> It is here.<|cta|> Buy now<|eos|><|body|> junk"
    assert parse_generation(text) == {"headline": "Big news", "body": "It is here.", "cta": "Buy now"}
    assert parse_generation("Just a line") == {"headline": "Just a line", "body": "", "cta": ""}
    assert parse_generation("<|body|> no headline<|pad|><|cta|>") == {
        "headline": "",
        "body": "no headline",
        "cta": "",
    }
    assert parse_generation("<|headline|> A<|headline|> B<|body|> C") == {
        "headline": "A",
        "body": "C",
        "cta": "",
    }
    assert parse_generation("") == {"headline": "", "body": "", "cta": ""}


def _row(**overrides):
    row = {
        "sku": "S1",
        "title": "Nova Steel Kettle 1.7 L",
        "category": "kitchen",
        "brand": "Nova",
        "description": "The Nova kettle boils fast. It holds 1.7 L.",
        "price": 49.99,
        "rating": 4.5,
        "split": "test",
        "tone": "bold",
        "headline": "Meet the Nova kettle",
        "body": "It boils fast.",
        "cta": "Get yours",
    }
    return {**row, **overrides}


def _tokenizer(rows):
    texts = [source_text(row) + " " + row["headline"] + " " + row["body"] for row in rows]
    return train_tokenizer(texts * 5, 300)


def test_loss_mask_excludes_prompt_and_padding():
    rows = [_row(), _row(sku="S2", description="Short.", tone="value", headline="Save on Nova")]
    tokenizer = _tokenizer(rows)
    ids = SpecialIds.of(tokenizer)
    sequence, prompt_length = build_example(tokenizer, ids, rows[0], 96, 64)
    # the prompt ends with the tone, then the channel (generic for a row without one)
    assert sequence[prompt_length - 2 : prompt_length] == [ids.tones["bold"], ids.channels["generic"]]
    assert sequence[prompt_length] == ids.outputs["headline"]  # the target starts with <|headline|>
    assert sequence[-1] == ids.eos
    assert labels_for(sequence, prompt_length) == [IGNORE_INDEX] * prompt_length + sequence[prompt_length:]

    encoded = encode_rows(tokenizer, ids, rows, 96, 64)
    batch = collate(encoded, [0, 1], ids.pad)
    for row in range(2):
        length, prompt = len(encoded.sequences[row]), encoded.prompt_lengths[row]
        labels = batch["labels"][row].tolist()
        assert labels[:prompt] == [IGNORE_INDEX] * prompt
        assert labels[prompt:length] == encoded.sequences[row][prompt:]
        assert labels[length:] == [IGNORE_INDEX] * (batch["labels"].shape[1] - length)
        assert batch["attention_mask"][row].sum().item() == length
    assert encoded.target_tokens([0, 1]) == int((batch["labels"] != IGNORE_INDEX).sum())


def test_prompt_is_cut_in_the_description_and_keeps_the_tone_and_channel():
    rows = [_row(description="word " * 200)]
    tokenizer = _tokenizer(rows)
    ids = SpecialIds.of(tokenizer)
    prompt = encode_prompt(tokenizer, ids, rows[0], "luxury", 40, "google_search")
    assert len(prompt) == 40
    assert prompt[-2:] == [
        tokenizer.convert_tokens_to_ids(TONE_TOKENS["luxury"]),
        tokenizer.convert_tokens_to_ids(CHANNEL_TOKENS["google_search"]),
    ]
    assert ids.fields["description"] in prompt
    with pytest.raises(ValueError, match="allowed tones: bold, luxury, value, playful"):
        encode_prompt(tokenizer, ids, rows[0], "sarcastic", 40)
    with pytest.raises(ValueError, match="allowed channels: generic, google_search, meta_feed"):
        encode_prompt(tokenizer, ids, rows[0], "bold", 40, "tiktok")


def test_a_tokenizer_without_channel_tokens_writes_the_prompt_it_was_trained_on():
    """An artifact from before channels: no channel token ends its prompt, whatever the channel."""
    rows = [_row()]
    tokenizer = _tokenizer(rows)
    ids = dataclasses.replace(SpecialIds.of(tokenizer), channels={})
    prompt = encode_prompt(tokenizer, ids, rows[0], "bold", 96, "meta_feed")
    assert prompt[-1] == ids.tones["bold"]
    assert set(SpecialIds.of(tokenizer).channels.values()) <= set(SpecialIds.of(tokenizer).prompt_only())


def test_frame_preparation_drops_products_without_creatives_and_rejects_unknown_tones():
    frame = pd.DataFrame([_row(split="train"), _row(sku="S2", tone=None, headline=None, body=None, cta=None)])
    assert list(prepare_frame(frame)["sku"]) == ["S1"]
    with pytest.raises(ValueError, match="unknown tones in dataset: grumpy"):
        prepare_frame(pd.DataFrame([_row(tone="grumpy")]))
    with pytest.raises(ValueError, match="lacks columns: cta"):
        prepare_frame(pd.DataFrame([_row()]).drop(columns=["cta"]))


def test_copy_title_baseline_metrics():
    frame = pd.DataFrame([_row()])
    metrics = copy_title_baseline(frame)
    # candidate: "nova steel kettle 1.7 l the nova kettle boils fast shop now" (12 words)
    # reference: "meet the nova kettle it boils fast get yours" (9 words)
    # LCS: "the nova kettle boils fast" = 5 words
    precision, recall = 5 / 12, 5 / 9
    assert metrics["rouge_l"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert metrics["fact_fidelity"] == 1.0
    assert metrics["items"] == 1
    assert math.isclose(metrics["distinct_2"], 1.0)


def test_config_presets_and_validation():
    assert TrainingConfig.from_preset("tiny", epochs=2).epochs == 2
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        TrainingConfig.from_preset("huge")
    with pytest.raises(ValueError, match="divisible"):
        TrainingConfig.from_preset("tiny", d_model=65).validate()


def test_encoded_rows_count_tokens():
    encoded = EncodedRows(sequences=[[1, 2, 3], [4, 5]], prompt_lengths=[1, 1], groups=["a", "b"])
    assert encoded.tokens([0, 1]) == 5
    assert encoded.target_tokens([0, 1]) == 3


def _allowed_after(guard, tokenizer, text):
    """Feed `text` (digits and separators) through the guard; return what it allows next."""
    for char in text:
        guard.advance([tokenizer.convert_tokens_to_ids(char)])
    logits = torch.zeros(1, len(tokenizer))
    guard.mask(logits)
    allowed = {char for char in "0123456789.," if logits[0, tokenizer.convert_tokens_to_ids(char)] == 0}
    words_allowed = bool(logits[0, tokenizer.convert_tokens_to_ids("<|eos|>")] == 0)
    return allowed, words_allowed


def test_number_guard_only_lets_input_numbers_through():
    source = "Kettle 1.7 L for $49.95, 1,200 W"
    tokenizer = train_tokenizer([source, "digits 0123456789 and words."] * 5, 300)
    guard = NumberGuard(tokenizer, [source], torch.device("cpu"))
    assert guard.enabled
    assert _allowed_after(guard, tokenizer, "") == ({"1", "4", ".", ","}, True)  # starts of 1.7, 49.95, 1,200
    assert _allowed_after(guard, tokenizer, "4") == ({"9"}, False)
    assert _allowed_after(guard, tokenizer, "9") == ({"."}, False)  # "49" alone is not an input number
    assert _allowed_after(guard, tokenizer, ".") == ({"9"}, False)
    assert _allowed_after(guard, tokenizer, "95") == ({".", ","}, True)  # complete: punctuation or words
    # that "." was a full stop; a digit right after it would read as "49.95.1", so none may follow
    assert _allowed_after(guard, tokenizer, ".") == ({".", ","}, True)
    guard.advance([tokenizer.convert_tokens_to_ids("<|eos|>")])  # any other token, e.g. a space
    assert _allowed_after(guard, tokenizer, "") == ({"1", "4", ".", ","}, True)
    assert _allowed_after(guard, tokenizer, "1") == ({".", ","}, False)  # 1.7 or 1,200, not "1" itself
    assert _allowed_after(guard, tokenizer, ",") == ({"2"}, False)
    assert _allowed_after(guard, tokenizer, "200") == ({".", ","}, True)


def test_the_paired_bootstrap_interval_matches_the_binomial_reference():
    """Differences of 1 on half the items and 0 on the other half: the bootstrap mean is a binomial
    proportion of 100 draws, whose central 95 % lies within 0.40 … 0.60 (normal approximation
    0.5 ± 1.96 × 0.05); the estimate is seeded, so the same scores give the same interval."""
    candidate, production = [1.0] * 50 + [0.0] * 50, [0.0] * 100
    interval = paired_bootstrap_interval(candidate, production, seed=7, resamples=4000)
    assert interval["delta"] == 0.5 and interval["items"] == 100
    assert 0.39 <= interval["low"] <= 0.41 and 0.59 <= interval["high"] <= 0.61
    assert paired_bootstrap_interval(candidate, production, seed=7, resamples=4000) == interval
    constant = paired_bootstrap_interval([0.3] * 20, [0.1] * 20)
    assert constant["low"] == pytest.approx(0.2) and constant["high"] == pytest.approx(0.2)
    with pytest.raises(ValueError):
        paired_bootstrap_interval([0.1], [0.1, 0.2])
