"""Character budgets: a field never ends over its limit and never on a cut word, whatever the model.

The stand-in model of test_ml_guards follows a script (a large push on its next token) unless a
rule masks that token; hostile inputs bring double-width brands, emoji and very long words.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.training.test_ml_guards import AdversarialLM
from training.ml.channels import CHANNELS, channel_ad, display_paths, display_width, field_check
from training.ml.formatting import fit_to_width, source_text
from training.ml.generator import CreativeGenerator
from training.ml.tokenizer import BRAND_SLOT, NOUN_SLOT, train_tokenizer

ITEMS = [
    {
        "brand": "東京エレクトロン",
        "category": "Electronics",
        "title": "東京エレクトロン Wireless Earbuds 🎧 with Charging Case",
        "price": 129.99,
        "description": "Bluetooth earbuds with a charging case and 30 hours of playtime.",
    },
    {
        "brand": "Acme",
        "category": "Home",
        "title": "Acme " + "Supercalifragilisticexpialidocious" * 3 + " Kettle",
        "price": 49.5,
        "description": "A kettle.",
    },
    {"brand": "Nova", "category": "Toys", "title": "Nova Art Kit", "price": 19.0, "description": "Crayons."},
]
SCRIPTS = [
    f"<|headline|>{BRAND_SLOT}{NOUN_SLOT}: Meet the Quietest Earbuds Yet<|body|> Thirty hours of playtime"
    " in a case that fits a pocket. Bluetooth pairs in a second, and the case charges by cable or pad."
    " Made for commutes, flights and long days.<|cta|> Shop the earbuds now<|eos|>",
    "<|headline|> Supercalifragilisticexpialidocious Kettle 東京エレクトロン 🎧🎧🎧<|body|> Boils in"
    " minutes, pours cleanly.<|cta|> Buy<|eos|>",
]
LIMITS = {"headline": 30, "body": 90, "cta": 15}


@pytest.fixture(scope="module")
def tokenizer():
    corpus = [source_text(item) for item in ITEMS] + SCRIPTS
    return train_tokenizer([" " + text for text in corpus] * 5, 600)


def _generator(tokenizer, seed: int, push: float, scripts=SCRIPTS) -> CreativeGenerator:
    encoded = [tokenizer.encode(text, add_special_tokens=False) for text in scripts]
    manifest = {"prompt_format": {"max_source_tokens": 96, "max_target_tokens": 96}}
    return CreativeGenerator(AdversarialLM(len(tokenizer), encoded, seed, push), tokenizer, manifest)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31 - 1),
    push=st.sampled_from([0.0, 8.0, 1000.0]),
    headline=st.integers(1, 40),
    body=st.integers(1, 120),
    cta=st.sampled_from([None, 5, 15]),
    max_new_tokens=st.integers(8, 96),
)
def test_every_field_is_within_its_limit(tokenizer, seed, push, headline, body, cta, max_new_tokens):
    limits = {"headline": headline, "body": body, "cta": cta}
    generator = _generator(tokenizer, seed, push)
    results = generator.generate(
        ITEMS, "bold", num_variants=2, max_new_tokens=max_new_tokens, seed=seed, limits=limits
    )
    for creatives in results:
        for creative in creatives:
            for name, limit in limits.items():
                if limit is not None:
                    assert display_width(creative[name]) <= limit, (name, limit, creative[name])


class FieldScriptLM(torch.nn.Module):
    """A model that writes each field of its script in turn, and ends a field (writes the next
    marker) when its script for the field is done or when the token it wants is not allowed: the
    second choice of a real model near a limit. It follows what each row actually wrote."""

    def __init__(self, vocab_size: int, fields: dict[str, list[int]], ends: list[int]):
        super().__init__()
        self.config = SimpleNamespace(model_type="scripted", _attn_implementation="eager")
        self.vocab_size, self.fields, self.ends = vocab_size, fields, ends  # ends: body, cta, eos markers

    def forward(
        self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, use_cache=True
    ):
        if past_key_values is None:
            past_key_values = _Rows(input_ids.shape[0])
        else:
            past_key_values.advance(input_ids[:, -1].tolist(), self.ends)
        logits = torch.zeros((len(past_key_values.field), 1, self.vocab_size))
        for row, (field, position) in enumerate(
            zip(past_key_values.field, past_key_values.position, strict=True)
        ):
            script = self.fields[("headline", "body", "cta")[field]]
            logits[row, 0, self.ends[field]] = 500.0  # ending the field: always the second choice
            if position < len(script):
                logits[row, 0, script[position]] = 1000.0
        return SimpleNamespace(logits=logits, past_key_values=past_key_values)


class _Rows:
    def __init__(self, rows: int):
        self.field, self.position = [0] * rows, [0] * rows

    def advance(self, tokens: list[int], ends: list[int]) -> None:
        for row, token in enumerate(tokens):
            if token in ends[:2]:
                self.field[row], self.position[row] = ends.index(token) + 1, 0
            else:
                self.position[row] += 1

    def batch_select_indices(self, keep: torch.Tensor) -> None:
        self.field = [self.field[index] for index in keep.tolist()]
        self.position = [self.position[index] for index in keep.tolist()]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    headline=st.integers(1, 40),
    body=st.integers(1, 120),
    cta=st.integers(1, 20),
    script=st.sampled_from([0, 1]),
)
def test_a_field_keeps_only_whole_words_of_what_the_model_wrote(tokenizer, headline, body, cta, script):
    """Whatever the limits, each field is the start of what the model writes without them, ending
    on a whole word (or a whole sentence): a word the budget stopped halfway is not kept."""
    generator = _scripted(tokenizer, SCRIPTS[script])
    free = generator.generate(ITEMS[:1], "bold", max_new_tokens=96)[0][0]
    limits = {"headline": headline, "body": body, "cta": cta}
    kept = generator.generate(ITEMS[:1], "bold", max_new_tokens=96, limits=limits)[0][0]
    for name in ("headline", "body", "cta"):
        assert display_width(kept[name]) <= limits[name]
        words, written = kept[name].split(), free[name].split()
        assert words == written[: len(words)] or _last_word_trimmed(words, written), (kept[name], free[name])


def _scripted(tokenizer, script: str) -> CreativeGenerator:
    parts = dict(re.findall(r"<\|(headline|body|cta)\|>(.*?)(?=<\|)", script))
    fields = {
        name: tokenizer.encode(parts.get(name, ""), add_special_tokens=False)
        for name in ("headline", "body", "cta")
    }
    ends = [tokenizer.convert_tokens_to_ids(token) for token in ("<|body|>", "<|cta|>", "<|eos|>")]
    manifest = {"prompt_format": {"max_source_tokens": 96, "max_target_tokens": 96}}
    return CreativeGenerator(FieldScriptLM(len(tokenizer), fields, ends), tokenizer, manifest)


def _last_word_trimmed(words: list[str], written: list[str]) -> bool:
    """`words` is the start of `written` but its last word lost trailing joiners (", " at a cut)."""
    if not words:
        return True
    head, last = words[:-1], words[-1]
    return (
        head == written[: len(head)]
        and written[len(head)].startswith(last)
        and not re.search(r"\w", written[len(head)][len(last) :])
    )


def test_a_word_the_limit_stops_halfway_is_dropped_and_a_cut_field_ends_on_a_sentence(tokenizer):
    generator = _scripted(tokenizer, SCRIPTS[1])
    limits = {"headline": 20, "body": 30, "cta": 15}
    creative = generator.generate(ITEMS[1:2], "bold", max_new_tokens=96, limits=limits)[0][0]
    assert creative["headline"] == ""  # "Supercalifragilistic…" does not fit in 20 and is not kept cut
    assert creative["body"] == "Boils in minutes, pours"  # no whole sentence fits: whole words do
    generator = _scripted(tokenizer, SCRIPTS[0])
    creative = generator.generate(ITEMS[:1], "bold", max_new_tokens=96, limits={"body": 80})[0][0]
    assert creative["body"] == "Thirty hours of playtime in a case that fits a pocket."


def test_without_limits_nothing_changes(tokenizer):
    plain = _generator(tokenizer, 3, 8.0).generate(ITEMS, "bold", seed=3)  # fresh stand-ins: their noise
    assert _generator(tokenizer, 3, 8.0).generate(ITEMS, "bold", seed=3, limits=None) == plain


def test_limits_name_real_fields_and_positive_widths(tokenizer):
    generator = _generator(tokenizer, 0, 1000.0)
    with pytest.raises(ValueError, match="unknown field 'title'"):
        generator.generate(ITEMS, "bold", limits={"title": 10})
    with pytest.raises(ValueError, match="the limit of body must be a positive integer"):
        generator.generate(ITEMS, "bold", limits={"body": 0})


@pytest.mark.parametrize(
    ("text", "limit", "cut", "fitted"),
    [
        ("Meet the Acme Kettle", 30, False, "Meet the Acme Kettle"),
        ("Meet the Acme Kettle, built to last", 25, False, "Meet the Acme Kettle"),
        ("Boils fast. Pours clean, every time", 30, False, "Boils fast."),
        ("Boils fast. Pours", 30, True, "Boils fast."),
        ("東京エレクトロン Earbuds", 16, False, "東京エレクトロン"),
        ("Supercalifragilistic", 5, False, ""),
    ],
)
def test_fit_to_width(text, limit, cut, fitted):
    assert fit_to_width(text, limit, cut=cut) == fitted


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31 - 1),
    push=st.sampled_from([0.0, 8.0, 1000.0]),
    channel=st.sampled_from(list(CHANNELS)),
    max_new_tokens=st.integers(8, 96),
)
def test_every_channel_keeps_its_limits_without_being_told_them(
    tokenizer, seed, push, channel, max_new_tokens
):
    """`channel=` alone sets the budget: every output, and every field of the ad it becomes, is within
    the channel's limits as the platform counts them (double-width characters count 2)."""
    definition = CHANNELS[channel]
    results = _generator(tokenizer, seed, push).generate(
        ITEMS, "bold", num_variants=2, max_new_tokens=max_new_tokens, seed=seed, channel=channel
    )
    for creatives in results:
        for creative in creatives:
            for name, limit in definition.output_limits().items():
                assert limit is None or definition.width(creative[name]) <= limit, (channel, name, creative)
            for name, values in channel_ad(
                definition, creative, display_paths("Home & Kitchen", "kettle")
            ).items():
                assert all(field_check(definition, name, value) is None for value in values), (name, values)


def test_an_unknown_channel_is_refused_with_the_channels_there_are(tokenizer):
    with pytest.raises(ValueError, match="allowed channels: generic, google_search, meta_feed"):
        _generator(tokenizer, 0, 1000.0).generate(ITEMS, "bold", channel="tiktok")


def test_explicit_limits_replace_the_channels(tokenizer):
    """`limits={}` turns the budget off for a channel (the benchmark's comparison); given limits win."""
    generator = _generator(tokenizer, 5, 1000.0)
    free = generator.generate(ITEMS, "bold", channel="google_search", limits={})
    assert any(display_width(creatives[0]["body"]) > 90 for creatives in free)  # the script's long body
    tight = generator.generate(ITEMS, "bold", channel="google_search", limits={"body": 20})
    assert all(display_width(creatives[0]["body"]) <= 20 for creatives in tight)
