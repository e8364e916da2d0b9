"""How a product and a tone become model input, and how generated text becomes a creative.

Prompt:  <|brand|> B <|category|> C <|title|> T <|price|> P <|description|> D <|tone:x|> <|channel:y|>
Target:  <|headline|> H <|body|> B <|cta|> C <|eos|>

The product's brand and its noun are delexicalised: wherever they occur (brand field, title,
description, reference copy) they are replaced by the special tokens `<|slot:brand|>` and
`<|slot:noun|>`, and decoding writes the item's own brand and noun in their place. The model never
learns a brand's or a product noun's spelling, so it cannot recall another product's maker or kind,
and a brand or a kind of product it has never seen ("Fender", "Electric Guitar") is written exactly
as the input spells it. The noun is found in the title by `product_noun`, the same rule for training
rows and for any product at serving.

Every field value starts with a space so that a word has the same tokens in the prompt as inside a
sentence of the copy (byte-level BPE treats " Nova" and "Nova" as different tokens); copying a fact
is then a copy of identical tokens. The prompt and target are encoded by the same functions for
training and for generation, so the two never drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from transformers import PreTrainedTokenizerBase

from training.ml.channels import CHANNELS, DEFAULT_CHANNEL, display_width
from training.ml.tokenizer import (
    BRAND_SLOT,
    CHANNEL_TOKENS,
    EOS,
    FIELD_TOKENS,
    NOUN_SLOT,
    OUTPUT_TOKENS,
    TONE_TOKENS,
    TONES,
)

IGNORE_INDEX = -100
OUTPUT_FIELDS = ("headline", "body", "cta")  # in the order the model writes them
PROMPT_FIELDS = ("brand", "category", "title", "price")  # then the description, the tone, the channel


@dataclass(frozen=True)
class SpecialIds:
    pad: int
    eos: int
    fields: dict[str, int]
    outputs: dict[str, int]
    tones: dict[str, int]
    brand_slot: int | None = None  # None: an artifact from before delexicalisation (brands as text)
    noun_slot: int | None = None  # None: an artifact from before the noun slot (nouns as text)
    channels: dict[str, int] = field(default_factory=dict)  # empty: an artifact from before channels

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerBase) -> SpecialIds:
        def token_id(token: str) -> int:
            value = tokenizer.convert_tokens_to_ids(token)
            if value is None or value == tokenizer.unk_token_id:
                raise ValueError(f"tokenizer lacks the special token {token}")
            return value

        return cls(
            pad=tokenizer.pad_token_id,
            eos=token_id(EOS),
            fields={name: token_id(token) for name, token in FIELD_TOKENS.items()},
            outputs={name: token_id(token) for name, token in OUTPUT_TOKENS.items()},
            tones={tone: token_id(token) for tone, token in TONE_TOKENS.items()},
            brand_slot=token_id(BRAND_SLOT) if BRAND_SLOT in tokenizer.get_vocab() else None,
            noun_slot=token_id(NOUN_SLOT) if NOUN_SLOT in tokenizer.get_vocab() else None,
            channels={
                name: token_id(token)
                for name, token in CHANNEL_TOKENS.items()
                if token in tokenizer.get_vocab()
            },
        )

    def slots_of(self, item: Mapping) -> Slots:
        """The values this tokenizer's slots stand for in `item` (empty for a slot it lacks)."""
        brand = _text(item.get("brand")) if self.brand_slot is not None else ""
        noun = product_noun(item.get("title"), brand, item.get("description")) if self.noun_slot else ""
        return Slots(brand=brand, noun=noun)

    def fills(self, slots: Slots) -> dict[int, str]:
        """Slot token id -> the text decoding writes for it."""
        pairs = ((self.brand_slot, slots.brand), (self.noun_slot, slots.noun))
        return {token: value for token, value in pairs if token is not None}

    def prompt_only(self) -> list[int]:
        """Ids that may only appear in a prompt; generation never emits them."""
        return sorted({self.pad, *self.fields.values(), *self.tones.values(), *self.channels.values()})


def format_price(price) -> str:
    """ "$165.00": written as the reference copy writes prices, so that copying the price into the copy
    is a verbatim copy of a token sequence that occurs nowhere else in the prompt."""
    if price is None or (isinstance(price, float) and math.isnan(price)):
        return ""
    return f"${float(price):.2f}"


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return " ".join(str(value).split())


@dataclass(frozen=True)
class Slots:
    """What one product's slots stand for: its brand and its noun ("" when it has none)."""

    brand: str = ""
    noun: str = ""

    def delexicalise(self, text: str) -> str:
        return delexicalise(text, self.brand, self.noun)


def delexicalise(text: str, brand: str | None, noun: str | None = None) -> str:
    """`text` with every whole-word, case-insensitive occurrence of `brand` replaced by the brand
    slot, then of `noun` by the noun slot."""
    for value, slot in ((brand, BRAND_SLOT), (noun, NOUN_SLOT)):
        value = _text(value)
        if value and text:
            words = r"\s+".join(re.escape(word) for word in value.split())
            text = re.sub(rf"(?<!\w){words}(?!\w)", slot, text, flags=re.IGNORECASE)
    return text


# Where a title's name part ends: "Fender Player Stratocaster Electric Guitar, Maple Fingerboard",
# "Acme Bamboo Cutting Board (18-Inch)", "Acme Tent with Rain Fly - 2-Person", "2-Person Tent by Acme".
_TITLE_NAME_END = re.compile(
    r"\s*(?:[,(\[|:;]|\s[-\u2013\u2014]\s|\s(?:with|by|for|featuring)\s)", re.IGNORECASE
)
_DIGIT = re.compile(r"\d")
_UNIT = re.compile(r"[a-z]{1,5}\.?|[A-Z]{1,3}")  # "mg", "fl", "oz.", "GB", "IU" after a number
_LEADING_FILLER = {"a", "an", "the", "of", "and", "&", "+", "for", "with", "by", "in", "-"}
NOUN_MAX_WORDS = 3
NOUN_FALLBACK_WORDS = 2


def product_noun(title, brand=None, description=None) -> str:
    """What the product is, as its title names it: "Electric Guitar", "Cutting Board", "Paperback".

    The title's name part (up to the first comma, bracket, " - ", " with ", " by "...), without the
    brand and without everything up to its last word holding a digit (a size or a model number:
    "2-Person", "FG800"). Of what remains, the longest ending of at most NOUN_MAX_WORDS words that the
    description also uses is the noun (a description names the product as its title does, and not
    its material: "Bamboo Cutting Board" -> "Cutting Board"; "Polyester Tent" -> "Tent" where it says
    "made from polyester"); otherwise the last NOUN_FALLBACK_WORDS words ("Gaming Headset"), or more
    when the ending would start with a lowercase word ("Eau de Parfum"). Rule-based and
    vocabulary-free, so a product the training data never saw gets its noun by the rule that found
    every training product's (on a generated catalog, the generator's own noun for all of them).
    "" when nothing is left.
    """
    title = _text(title)
    brand = _text(brand)
    if not title:
        return ""
    if brand:  # the brand ends a name part too ("2-Person Tent by Acme"), with its joining word
        words = r"\s+".join(re.escape(word) for word in brand.split())
        title = re.sub(rf"(?:\s(?:by|from)\s+)?(?<!\w){words}(?!\w)", " | ", title, flags=re.IGNORECASE)
    parts = (part.strip() for part in _TITLE_NAME_END.split(title))
    name = next((part for part in parts if part), "")  # the first part that is not only the brand
    words = name.split()
    with_digit = [index for index, word in enumerate(words) if _DIGIT.search(word)]
    if with_digit:
        after = words[with_digit[-1] + 1 :]
        while after and _UNIT.fullmatch(after[0]):  # "200 mg", "512 GB": the unit belongs to the number
            after = after[1:]
        words = after or [word for word in words[: with_digit[-1]] if not _DIGIT.search(word)]
    while words and words[0].casefold() in _LEADING_FILLER:
        words = words[1:]
    words = words[-NOUN_MAX_WORDS:]
    if not words:
        return ""
    description = " ".join(_text(description).casefold().split())

    def described(phrase: str) -> bool:
        return bool(re.search(rf"(?<!\w){re.escape(phrase.casefold())}(?!\w)", description))

    def ending(size: int) -> str:  # the quotes and marks around the phrase are not part of it
        return " ".join(" ".join(words[-size:]).strip("\"'.!?*").split())

    for size in range(len(words), 1, -1):
        if described(ending(size)):
            return ending(size)
    # One word repeated: the noun alone ("tent") when the word before it is a fact of its own that the
    # description states elsewhere (a material: "made from polyester"), else a qualifier that belongs
    # to the noun ("Gaming Headset", "Acoustic Guitar").
    if len(words) == 1 or (described(words[-1]) and described(words[-2])):
        return ending(1)
    size = NOUN_FALLBACK_WORDS
    while size < len(words) and words[-size][:1].islower():  # "Eau de Parfum", not "de Parfum"
        size += 1
    return ending(size)


def source_text(item: dict) -> str:
    """The product's input text as one string: what the copy's facts must come from."""
    parts = [_text(item.get(name)) for name in ("brand", "category", "title")]
    parts += [format_price(item.get("price")), _text(item.get("description"))]
    return " ".join(part for part in parts if part)


def _encode(tokenizer: PreTrainedTokenizerBase, value: str) -> list[int]:
    return tokenizer.encode(" " + value, add_special_tokens=False) if value else []


def encode_prompt(
    tokenizer: PreTrainedTokenizerBase,
    ids: SpecialIds,
    item: dict,
    tone: str,
    max_source_tokens: int,
    channel: str = DEFAULT_CHANNEL,
) -> list[int]:
    """Prompt ids; a long description is cut first, then the title, to fit `max_source_tokens`.
    The channel's token follows the tone where the tokenizer has channel tokens."""
    if tone not in ids.tones:
        raise ValueError(f"unknown tone {tone!r}; allowed tones: {', '.join(TONES)}")
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; allowed channels: {', '.join(CHANNELS)}")
    ending = [ids.tones[tone], *([ids.channels[channel]] if ids.channels else [])]
    # The prompt keeps the noun as words: what the product is tells the model what to say about it
    # (a cutting board's material, a tent's capacity); only the copy writes it as the slot.
    slots = Slots(brand=_text(item.get("brand")) if ids.brand_slot is not None else "")
    values = {name: slots.delexicalise(_text(item.get(name))) for name in PROMPT_FIELDS}
    values["price"] = format_price(item.get("price"))
    pieces = {name: _encode(tokenizer, values[name]) for name in PROMPT_FIELDS}
    description = _encode(tokenizer, slots.delexicalise(_text(item.get("description"))))
    fixed = len(PROMPT_FIELDS) + 1 + len(ending)  # a marker per field, the description's, tone, channel
    budget = max_source_tokens - fixed - sum(len(piece) for piece in pieces.values())
    if budget < 0:
        pieces["title"] = pieces["title"][: max(0, len(pieces["title"]) + budget)]
        budget = 0
    prompt: list[int] = []
    for name in PROMPT_FIELDS:
        prompt += [ids.fields[name], *pieces[name]]
    prompt += [ids.fields["description"], *description[:budget], *ending]
    return prompt[:max_source_tokens]


def encode_target(
    tokenizer: PreTrainedTokenizerBase,
    ids: SpecialIds,
    headline: str,
    body: str,
    cta: str,
    max_target_tokens: int,
    slots: Slots | None = None,
) -> list[int]:
    slots = slots or Slots()
    target: list[int] = []
    for name, value in (("headline", headline), ("body", body), ("cta", cta)):
        target += [ids.outputs[name], *_encode(tokenizer, slots.delexicalise(_text(value)))]
    target.append(ids.eos)
    return target[:max_target_tokens]


def build_example(
    tokenizer: PreTrainedTokenizerBase,
    ids: SpecialIds,
    row: dict,
    max_source_tokens: int,
    max_target_tokens: int,
) -> tuple[list[int], int]:
    """(input ids, prompt length): labels are the input ids with the first `prompt length` masked."""
    prompt = encode_prompt(
        tokenizer, ids, row, row["tone"], max_source_tokens, row.get("channel") or DEFAULT_CHANNEL
    )
    target = encode_target(
        tokenizer, ids, row["headline"], row["body"], row["cta"], max_target_tokens, ids.slots_of(row)
    )
    return prompt + target, len(prompt)


def labels_for(input_ids: list[int], prompt_length: int) -> list[int]:
    """The loss counts only target tokens: the prompt is IGNORE_INDEX (padding is added later)."""
    return [IGNORE_INDEX] * prompt_length + input_ids[prompt_length:]


_MARKER = re.compile(r"<\|(headline|body|cta|eos)\|>")
_OTHER_SPECIAL = re.compile(r"<\|[a-z:]+\|>")
_LAST_WORD = re.compile(r"\S+$")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?])")


def parse_generation(
    text: str, *, brand: str | None = None, truncated: bool = False, noun: str | None = None
) -> dict[str, str]:
    """{headline, body, cta} from generated text; missing parts are empty strings.

    The brand slot becomes `brand` and the noun slot `noun` (the input's own). Text before the
    first marker counts as the headline (a model that skipped `<|headline|>`), everything after
    `<|eos|>` is dropped, a repeated marker keeps its first non-empty value, and stray special
    tokens are removed. `truncated`: the text stopped at the token limit, not at `<|eos|>`, so its
    last word may be cut ("$215.9" of "$215.99"): the last word of the field being written is
    dropped, and a cut word or number never ends a field.
    """
    brand = _text(brand)
    result = dict.fromkeys(("headline", "body", "cta"), "")
    current, position = "headline", 0
    for match in _MARKER.finditer(text):
        _keep_first(result, current, text[position : match.start()], brand, _text(noun))
        current, position = match.group(1), match.end()
        if current == "eos":
            return result
    tail = text[position:]
    if truncated:
        tail = _LAST_WORD.sub("", tail)  # a word (or a slot glued to one) still being written
    _keep_first(result, current, tail, brand, _text(noun))
    return result


def creative_from_tokens(
    tokenizer: PreTrainedTokenizerBase,
    ids: SpecialIds,
    tokens: list[int],
    brand: str | None,
    erasures: Erasures | None = None,
    noun: str | None = None,
    limits: Mapping[str, int | None] | None = None,
) -> dict[str, str]:
    """{headline, body, cta} from generated ids, split at the marker *tokens* (text that merely looks
    like a marker stays text), with each slot token written as the item's own value (`brand`, `noun`).

    Decoding writes the markers in order, so each field is one run of tokens. A row that did not
    end with `<|eos|>` stopped at the token limit: its last word may be cut ("$215.9" of "$215.99"),
    so the last word of the field it was writing is dropped; a cut word never ends a field. What the
    fact guard took out (`erasures`) becomes a space, or the input's own feature that stands in for
    it; where nothing could stand in for a foreign feature, its clause goes too (see
    `without_marked_clauses`). With `limits` (a field's maximum display width, see budget.py), a field
    still over its limit loses whole words from its end, and one that was cut ends after its last
    whole sentence when it has one (`fit_to_width`).
    """
    erasures = erasures or Erasures()
    field_of = {token: name for name, token in ids.outputs.items()}
    fills = ids.fills(Slots(brand=_text(brand), noun=_text(noun)))
    fields: dict[str, list[str]] = {"headline": [], "body": [], "cta": []}
    current, run = "headline", []
    prompt_only = set(ids.prompt_only())
    # A row that did not end with <|eos|> stopped at the token limit: the last word it was writing, as
    # the model wrote it (before any erasure split it), leaves the creative.
    cut = set() if ids.eos in tokens else _last_word_steps(tokenizer, ids, tokens, fills)
    for position, token in enumerate(tokens):
        if position in erasures.steps or position in cut:  # a space: the words around it never join
            gap = f" {CLAIM_MARK} " if position in erasures.claims and position not in cut else " "
            if position in erasures.substitutes and position not in cut:
                gap = f" {erasures.substitutes[position]} "
            fields[current].append(_decoded(tokenizer, run) + gap)
            run = []
            continue
        if token == ids.eos:
            break
        if token in field_of or token in fills:
            fields[current].append(_decoded(tokenizer, run))
            run = []
            if token in fills:
                fields[current].append(fills[token])
            else:
                current = field_of[token]
        elif token not in prompt_only:
            run.append(token)
    fields[current].append(_decoded(tokenizer, run))
    texts = {name: "".join(parts) for name, parts in fields.items()}
    texts = {name: " ".join(text.split()) for name, text in texts.items()}
    if erasures.claims:
        texts = {name: without_marked_clauses(text) for name, text in texts.items()}
    if erasures.steps:  # "the Fender , built": no space is left before the punctuation that followed a term
        texts = {name: _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text) for name, text in texts.items()}
    # one "!" or "?" at a time, as the ad platforms allow (the lint's rule): a run keeps its first mark
    texts = {name: _REPEATED_MARKS.sub(lambda match: match.group()[0], text) for name, text in texts.items()}
    for name, limit in (limits or {}).items():
        if limit is not None and name in texts:
            texts[name] = fit_to_width(texts[name], limit, cut=name in erasures.cut)
    return texts


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_REPEATED_MARKS = re.compile(r"[!?\uff01\uff1f]{2,}")
_TRAILING_JOINERS = " ,;:-\u2013\u2014&+/"


def fit_to_width(text: str, limit: int, *, cut: bool = False) -> str:
    """`text` within `limit` display columns, by whole words: words leave its end until it fits. A
    text that lost words here, or was `cut` while it was written, ends after its last whole sentence
    when it has one, else without a dangling comma or dash."""
    words = text.split(" ")
    while words and display_width(" ".join(words)) > limit:
        words.pop()
        cut = True
    text = " ".join(words)
    if cut:
        ends = list(_SENTENCE_END.finditer(text))
        if ends and ends[-1].end() < len(text):
            text = text[: ends[-1].end()]
        text = text.rstrip(_TRAILING_JOINERS)
    return text


@dataclass(frozen=True)
class Erasures:
    """What the fact guard (and a character budget) took out of one row, by step index: the steps of
    erased foreign terms and of a word the budget may have cut,
    those of a foreign feature that nothing could stand in for (their clause goes), and where the
    input's own feature stands in for one (the step of the term's first token -> the phrase)."""

    steps: frozenset[int] = frozenset()
    claims: frozenset[int] = frozenset()
    substitutes: Mapping[int, str] = field(default_factory=dict)
    cut: frozenset[str] = frozenset()  # fields a character budget ended (budget.py)


CLAIM_MARK = "\x00"  # where the fact guard took out a foreign feature; never in decoded text


def _last_word_steps(
    tokenizer: PreTrainedTokenizerBase, ids: SpecialIds, tokens: list[int], fills: Mapping[int, str]
) -> set[int]:
    """The steps of the last word of `tokens`' last field: back from the end up to the token that
    starts it (one beginning with white space), a slot glued to it included, never past a marker."""
    markers, prompt_only, steps = set(ids.outputs.values()), set(ids.prompt_only()), set()
    for position in range(len(tokens) - 1, -1, -1):
        token = tokens[position]
        if token in markers:
            break
        if token in prompt_only:
            continue
        steps.add(position)
        if token not in fills and tokenizer.decode([token])[:1].isspace():
            break
    return steps


_CLAUSE_END = re.compile(r"([,;:.!?]+)(?=\s|$)")
_SENTENCE_END_MARKS = frozenset(".!?")


def without_marked_clauses(text: str) -> str:
    """`text` without each clause (a run between , ; : . ! ? marks) that holds CLAIM_MARK.

    "The Razer Gaming Mouse, made from <mark>, with a scroll wheel. No second-guessing." ->
    "The Razer Gaming Mouse, with a scroll wheel. No second-guessing." A sentence keeps its end
    mark when its last clause goes, one whose first clause went starts with a capital, and the text
    never ends on a comma.
    """
    pieces = _CLAUSE_END.split(text)
    kept: list[list[str]] = []  # [clause, the marks that end it]
    sentence_start = True  # the next kept clause begins a sentence
    for clause, marks in zip(pieces[0::2], [*pieces[1::2], ""], strict=True):
        ends = _ends_sentence(marks)
        clause = " ".join(clause.split())
        if CLAIM_MARK in clause or not clause:
            if ends and kept and not _ends_sentence(kept[-1][1]):
                kept[-1][1] = marks  # "The Razer Mouse, made from X." -> "The Razer Mouse."
            sentence_start = sentence_start or ends
            continue
        if sentence_start:
            clause = clause[:1].upper() + clause[1:]
        kept.append([clause, marks])
        sentence_start = ends
    if kept and not _ends_sentence(kept[-1][1]):
        kept[-1][1] = ""
    return " ".join(clause + marks for clause, marks in kept)


def _decoded(tokenizer: PreTrainedTokenizerBase, run: list[int]) -> str:
    """The text of `run`; a NUL the model wrote (a byte-level token can) is dropped, as it is
    CLAIM_MARK here and no copy needs it."""
    return tokenizer.decode(run).replace(CLAIM_MARK, "")


def _ends_sentence(marks: str) -> bool:
    return bool(set(marks) & _SENTENCE_END_MARKS)


def _keep_first(result: dict[str, str], name: str, value: str, brand: str, noun: str) -> None:
    value = value.replace(BRAND_SLOT, brand).replace(NOUN_SLOT, noun)
    cleaned = " ".join(_OTHER_SPECIAL.sub(" ", value).split())
    if cleaned and not result[name]:
        result[name] = cleaned


def creative_text(creative: dict) -> str:
    """Headline, body and call to action as one string, the unit the metrics score."""
    return " ".join(
        part for part in (creative.get("headline"), creative.get("body"), creative.get("cta")) if part
    )
