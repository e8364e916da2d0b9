"""What decoding guarantees for every output, whatever the model writes.

The model here is adversarial: a stand-in causal LM whose logits push each row towards a script of
foreign brands, foreign product nouns, near-miss numbers and stray markers, plus seeded noise, so
greedy and sampled rows alike try everything the guards must stop. The properties are checked with
the same `FactChecker` evaluation scores with, on every output of many generated cases, including
token limits that stop a row in the middle of a number or a word. (What training achieves, copying
a brand it never saw, is shown by `manage.py benchmark_training` on `small`, not asserted here.)
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from training.ml.formatting import creative_text, parse_generation, source_text, without_marked_clauses
from training.ml.generator import CreativeGenerator
from training.ml.metrics import FactChecker
from training.ml.policy_lint import lint_creative
from training.ml.tokenizer import BRAND_SLOT, NOUN_SLOT, train_tokenizer

KNOWN_BRANDS = ["Orbit", "Nova", "Barkley Bay", "Acme", "Acme Pro", "Brightblock"]
KNOWN_NOUNS = ["kettle", "toaster", "art kit", "cat tree", "knife", "chef's knife"]
KNOWN_FEATURES = [
    "organic cotton",
    "cotton",
    "touch controls",
    "single-coil pickups",
    "stainless steel",
    "alder",
    "G-sensor",
]
KNOWN_MATERIALS = ["organic cotton", "cotton", "stainless steel", "alder"]
ITEMS = [
    {
        "brand": "Fender",
        "category": "Musical Instruments",
        "title": "Fender Player Stratocaster Electric Guitar, Maple Fingerboard",
        "price": 849.99,
        "description": "Three single-coil pickups and a 22-fret neck.",
    },
    {
        "brand": "Acme Pro",
        "category": "Kitchen",
        "title": "Acme Pro 8-Inch Chef's Knife",
        "price": 215.99,
        "description": "A sharp knife for 1,200 dinners, from the makers of the Nova kettle.",
    },
    {"brand": None, "category": "Books", "title": "A Novel in 3 Parts", "price": 14.5, "description": ""},
    {
        "brand": "Orbit",
        "category": "Toys",
        "title": "Orbit Cat Tree 120 cm",
        "price": 74.95,
        "description": "Sisal posts; fits a cat of 6 kg.",
    },
]
ADVERSARIAL_TEXTS = [
    "<|headline|> Brightblock Art Kit for $215.9<|body|> Barkley Bay toaster, 1,200.5 kg!<|cta|> Acme now",
    "<|headline|> Nova kettle $849.9 Orbit<|headline|> Acme Pro knife<|body|> Barkley Bay.<|eos|>",
    f"<|headline|>{BRAND_SLOT} Cat Trees, 74.9 and 6.5<|cta|> Orbit's kettles<|body|> Bay Acme",
    "<|body|> Acme, Acme Pro's chef's knife and knifes 22.5<|cta|> Brightblock<|eos|>",
    "<|headline|> Meet the Barkley Bay, 120 cm art kits by Nova<|body|> $14.50 or 14.55<|eos|>",
    f"<|headline|>{NOUN_SLOT} by{BRAND_SLOT}<|body|> The Nova{NOUN_SLOT} kettle, {NOUN_SLOT}s $849.9<|eos|>",
    "<|body|> Made from organic cotton, with touch controls. Stainless steel and cotton single-coil pickups!",
    "<|headline|> The BEST Fender!!<|body|> Guaranteed USB-C fun?! Click here, the #1 pick.<|cta|> Buy"
    " NOW!!<|eos|>",
]


class _Cache:
    """Just enough of a KV cache: which scripted row each batch row is, after pruning too."""

    def __init__(self, rows: int):
        self.rows, self.step = list(range(rows)), 0

    def batch_select_indices(self, keep: torch.Tensor) -> None:
        self.rows = [self.rows[index] for index in keep.tolist()]


class AdversarialLM(torch.nn.Module):
    """Logits = `push` on the next token of each row's script + Gaussian noise (seeded)."""

    def __init__(self, vocab_size: int, scripts: list[list[int]], seed: int, push: float):
        super().__init__()
        self.config = SimpleNamespace(model_type="adversarial", _attn_implementation="eager")
        self.vocab_size, self.scripts, self.push = vocab_size, scripts, push
        self.noise = torch.Generator().manual_seed(seed)

    def forward(
        self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, use_cache=True
    ):
        if past_key_values is None:
            past_key_values = _Cache(input_ids.shape[0])
        else:
            past_key_values.step += 1
        rows, step = past_key_values.rows, past_key_values.step
        logits = torch.randn((len(rows), 1, self.vocab_size), generator=self.noise) * 3
        for position, row in enumerate(rows):
            script = self.scripts[row % len(self.scripts)]
            if step < len(script):
                logits[position, 0, script[step]] += self.push
        return SimpleNamespace(logits=logits, past_key_values=past_key_values)


@pytest.fixture(scope="module")
def tokenizer():
    corpus = (
        [source_text(item) for item in ITEMS]
        + ADVERSARIAL_TEXTS
        + KNOWN_BRANDS
        + KNOWN_NOUNS
        + KNOWN_FEATURES
    )
    return train_tokenizer([" " + text for text in corpus] * 5, 700)


@pytest.fixture(scope="module")
def checker():
    return FactChecker(KNOWN_BRANDS, KNOWN_NOUNS, KNOWN_FEATURES)


def _generator(tokenizer, seed: int, push: float) -> CreativeGenerator:
    scripts = [tokenizer.encode(text, add_special_tokens=False) for text in ADVERSARIAL_TEXTS]
    manifest = {
        "prompt_format": {"max_source_tokens": 96, "max_target_tokens": 64},
        "fact_vocabulary": {
            "brands": KNOWN_BRANDS,
            "nouns": KNOWN_NOUNS,
            "features": KNOWN_FEATURES,
            "materials": KNOWN_MATERIALS,
        },
    }
    return CreativeGenerator(AdversarialLM(len(tokenizer), scripts, seed, push), tokenizer, manifest)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31 - 1),
    push=st.sampled_from([0.0, 8.0, 40.0]),
    max_new_tokens=st.integers(1, 48),
    variants=st.integers(1, 3),
    order=st.permutations(range(len(ITEMS))),
)
def test_every_output_names_only_its_own_brands_nouns_and_numbers(
    tokenizer, checker, seed, push, max_new_tokens, variants, order
):
    items = [ITEMS[index] for index in order]
    generator = _generator(tokenizer, seed, push)
    results = generator.generate(
        items, "bold", num_variants=variants, max_new_tokens=max_new_tokens, seed=seed
    )
    for item, creatives in zip(items, results, strict=True):
        source, brand = source_text(item), item["brand"]
        for creative in creatives:
            text = creative_text(creative)
            assert checker.foreign_brands(text, source, brand) == [], (text, source)
            assert checker.foreign_nouns(text, source) == [], (text, source)
            assert checker.foreign_numbers(text, source) == [], (text, source)
            assert checker.foreign_features(text, source) == [], (text, source)
            fields = {name: creative[name] for name in ("headline", "body", "cta")}
            assert lint_creative(fields, source) == [], (fields, source)  # what ad platforms disapprove
            assert "\x00" not in text, text
            assert BRAND_SLOT not in text and NOUN_SLOT not in text, text  # every slot written out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31 - 1),
    push=st.sampled_from([8.0, 40.0]),
    max_new_tokens=st.integers(1, 48),
)
@example(seed=8388607, push=8.0, max_new_tokens=22)  # "Acmeź": half of "ź" once read as a word's end
@example(seed=10, push=8.0, max_new_tokens=9)  # a claim erased at the token limit: drop the cut word, not it
def test_the_fact_guard_erases_whole_words_and_never_cuts_or_glues_one(tokenizer, seed, push, max_new_tokens):
    """The guard changes no choice of the model: what it lets through is the unguarded copy with whole
    foreign terms (and the clause of a foreign feature) taken out, so every word of it, in order, is
    a word the model wrote (the guard before this one forced a foreign noun to go on: "board
    gamelease"). A sentence whose first clause went starts with a capital; case aside, words match."""
    guarded = _generator(tokenizer, seed, push)
    guarded.feature_substitution = False  # what stands in is the input's words, checked below
    unguarded = _generator(tokenizer, seed, push)
    unguarded._fact_index = None
    kept = guarded.generate(ITEMS, "bold", num_variants=2, max_new_tokens=max_new_tokens, seed=seed)
    written = unguarded.generate(ITEMS, "bold", num_variants=2, max_new_tokens=max_new_tokens, seed=seed)
    for kept_creatives, written_creatives in zip(kept, written, strict=True):
        for kept_creative, written_creative in zip(kept_creatives, written_creatives, strict=True):
            for field in ("headline", "body", "cta"):
                assert _whole_pieces_of(kept_creative[field], written_creative[field]), (
                    kept_creative[field],
                    written_creative[field],
                )


def _whole_pieces_of(kept: str, written: str) -> bool:
    """Whether each space-separated piece of `kept`, in order, is a piece of `written` or what is left
    of one where a term was cut out at a word boundary ("Orbit." -> ".", "(Orbit)" -> "(" and ")")."""
    pieces = iter(_pieces(written.casefold()))
    for piece in _pieces(kept.casefold()):
        for candidate in pieces:
            if piece == candidate or any(
                candidate[start : start + len(piece)] == piece
                and _at_boundary(candidate, start)
                and _at_boundary(candidate, start + len(piece))
                for start in range(len(candidate) - len(piece) + 1)
            ):
                break
        else:
            return False
    return True


def _pieces(text: str) -> list[str]:
    """Space-separated pieces, with punctuation split off the word before it ("kit," -> "kit", ",")."""
    return [piece for piece in re.split(r"\s+|(?=[,.;:!?])", text) if piece]


def _at_boundary(text: str, position: int) -> bool:
    """A cut at `position` of `text` splits no word: an end, or a non-word character on one side."""
    if position in (0, len(text)):
        return True
    return not (text[position - 1].isalnum() and text[position].isalnum())


def test_a_foreign_noun_is_erased_whole_and_the_copy_goes_on(tokenizer):
    generator = _generator(tokenizer, 0, 1000.0)
    script = "<|headline|> Meet the Fender art kit, built to play<|eos|>"
    generator.model.scripts = [tokenizer.encode(script, add_special_tokens=False)]
    creative = generator.generate([ITEMS[0]], "bold", max_new_tokens=40)[0][0]
    assert creative["headline"] == "Meet the Fender, built to play"


def test_the_inputs_own_feature_of_the_same_kind_stands_in_for_a_foreign_one(tokenizer, checker):
    generator = _generator(tokenizer, 0, 1000.0)
    item = {**ITEMS[0], "description": "An alder body with single-coil pickups."}  # a material, a feature
    for script, headline, body in (
        (
            "<|headline|> Meet the Fender<|body|> Made from organic cotton, with touch controls. It has"
            " touch controls.<|eos|>",
            "Meet the Fender",
            # each of the input's features once; a claim with nothing left to stand in goes with its clause
            "Made from alder, with single-coil pickups.",
        ),
        ("<|headline|> Stainless Steel Fender<|body|> Made from cotton.<|eos|>", "Alder Fender", ""),
    ):
        generator.model.scripts = [tokenizer.encode(script, add_special_tokens=False)]
        creative = generator.generate([item], "bold", max_new_tokens=60)[0][0]
        assert (creative["headline"], creative["body"]) == (headline, body)  # in the term's case
        assert checker.is_faithful(creative_text(creative), source_text(item), "Fender")


def test_a_foreign_feature_goes_with_its_clause(tokenizer, checker):
    generator = _generator(tokenizer, 0, 1000.0)
    generator.feature_substitution = False
    script = (
        "<|headline|> Meet the Fender, now in organic cotton<|body|> Made from stainless steel, the Fender"
        " brings single-coil pickups. It has touch controls. Play<|eos|>"
    )
    generator.model.scripts = [tokenizer.encode(script, add_special_tokens=False)]
    creative = generator.generate([ITEMS[0]], "bold", max_new_tokens=60)[0][0]
    assert creative["headline"] == "Meet the Fender"
    assert creative["body"] == "The Fender brings single-coil pickups. Play"  # the input has the pickups
    script = "<|body|> With a G-sensor. Go<|eos|>"  # a term is found by its last word run, "sensor"
    generator.model.scripts = [tokenizer.encode(script, add_special_tokens=False)]
    assert generator.generate([ITEMS[0]], "bold", max_new_tokens=30)[0][0]["body"] == "Go"
    assert checker.is_faithful(creative_text(creative), source_text(ITEMS[0]), "Fender")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "The Razer Mouse, made from \x00, with a wheel. No doubt.",
            "The Razer Mouse, with a wheel. No doubt.",
        ),
        ("The Razer Mouse, made from \x00. No doubt.", "The Razer Mouse. No doubt."),
        ("Made from \x00, the tent holds two. Go", "The tent holds two. Go"),
        ("Highlights include \x00 and \x00.", ""),
        ("Meet the Acme, made from \x00", "Meet the Acme"),
        ("Only $849.99, made from \x00!", "Only $849.99!"),
        ("No mark here, at all.", "No mark here, at all."),
    ],
)
def test_without_marked_clauses(text, kept):
    assert without_marked_clauses(text) == kept


def test_claims_ad_platforms_disapprove_go_with_their_clause_and_marks_are_not_repeated(tokenizer):
    generator = _generator(tokenizer, 0, 1000.0)
    generator.model.scripts = [tokenizer.encode(ADVERSARIAL_TEXTS[-1], add_special_tokens=False)]
    creative = generator.generate([ITEMS[0]], "bold", max_new_tokens=60)[0][0]
    # "BEST" and "NOW" (capitals the input does not use), "Guaranteed", "Click here", "#1": gone with
    # their clauses; "!!" and "?!" keep their first mark
    assert (
        creative == {"tone": "bold", "headline": "", "body": "", "cta": ""}
        or lint_creative(
            {name: creative[name] for name in ("headline", "body", "cta")}, source_text(ITEMS[0])
        )
        == []
    )
    supported = {**ITEMS[0], "description": "The BEST guitar, with USB output. Buy NOW!"}
    kept = generator.generate([supported], "bold", max_new_tokens=60)[0][0]
    assert (kept["headline"], kept["cta"]) == ("The BEST Fender!", "Buy NOW!")  # the input says so itself


def test_a_number_cut_by_the_token_limit_is_dropped_not_shortened(tokenizer, checker):
    """The failure of issue 12: `$215.99` stopped at `$215.9` by the limit must not stand."""
    item = ITEMS[1]
    script = " Buily $215.99"
    limit = len(tokenizer.encode("<|headline|>" + script, add_special_tokens=False)) - 1
    generator = _generator(tokenizer, 0, 1000.0)
    generator.model.scripts = [tokenizer.encode("<|headline|>" + script, add_special_tokens=False)]
    creative = generator.generate([item], "bold", max_new_tokens=limit)[0][0]
    assert creative["headline"] == "Buily"
    assert checker.foreign_numbers(creative_text(creative), source_text(item)) == []


def test_the_brand_slot_is_filled_with_the_items_own_brand_and_never_written_without_one(tokenizer):
    slot = tokenizer.convert_tokens_to_ids(BRAND_SLOT)
    generator = _generator(tokenizer, 0, 1000.0)
    eos = tokenizer.convert_tokens_to_ids("<|eos|>")
    generator.model.scripts = [[tokenizer.convert_tokens_to_ids("<|headline|>"), slot, eos]]
    with_brand, without_brand = generator.generate([ITEMS[0], ITEMS[2]], "bold", max_new_tokens=8)
    assert with_brand[0]["headline"] == "Fender"
    assert "Fender" not in creative_text(without_brand[0]) and "<|" not in creative_text(without_brand[0])


def test_the_noun_slot_is_filled_with_the_items_own_noun_and_never_written_without_one(tokenizer, checker):
    slot = tokenizer.convert_tokens_to_ids(NOUN_SLOT)
    generator = _generator(tokenizer, 0, 1000.0)
    ids = [tokenizer.convert_tokens_to_ids(token) for token in ("<|headline|>", "<|body|>", "<|eos|>")]
    generator.model.scripts = [[ids[0], slot, ids[1], slot, ids[2]]]
    no_noun = {"brand": "Acme", "category": "Toys", "title": "Acme 3000", "price": 9.5, "description": ""}
    guitar, nothing = generator.generate([ITEMS[0], no_noun], "bold", max_new_tokens=8)
    assert guitar[0]["headline"] == guitar[0]["body"] == "Electric Guitar"  # as its title spells it
    assert checker.is_faithful(creative_text(guitar[0]), source_text(ITEMS[0]), "Fender")
    assert "<|" not in creative_text(nothing[0])


def test_parse_generation_drops_the_cut_last_word_only_at_the_token_limit():
    text = f"<|headline|>{BRAND_SLOT} Guitar<|body|> Only $849.9"
    assert parse_generation(text, brand="Fender", truncated=True) == {
        "headline": "Fender Guitar",
        "body": "Only",
        "cta": "",
    }
    assert parse_generation(text + "9", brand="Fender")["body"] == "Only $849.99"
    assert parse_generation("<|headline|> Done<|cta|>", truncated=True)["headline"] == "Done"
    day = parse_generation(f"<|headline|>{NOUN_SLOT} Day<|eos|>", noun="Cat Tree")
    assert day["headline"] == "Cat Tree Day"
