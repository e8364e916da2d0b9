"""How a product and a tone become model input, and how generated text becomes a creative.

Prompt:  <|brand|> B <|category|> C <|title|> T <|price|> P <|description|> D <|tone:x|>
Target:  <|headline|> H <|body|> B <|cta|> C <|eos|>

The product's brand is delexicalised: wherever it occurs (brand field, title, description, reference
copy) it is replaced by the special token `<|slot:brand|>`, and `parse_generation` writes the item's
own brand in its place. The model never learns a brand's spelling, so it cannot recall another
product's maker, and a brand it has never seen is written exactly as the input spells it.

Every field value starts with a space so that a word has the same tokens in the prompt as inside a
sentence of the copy (byte-level BPE treats " Nova" and "Nova" as different tokens); copying a fact
is then a copy of identical tokens. The prompt and target are encoded by the same functions for
training and for generation, so the two never drift apart.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from training.ml.tokenizer import BRAND_SLOT, EOS, FIELD_TOKENS, OUTPUT_TOKENS, TONE_TOKENS, TONES

IGNORE_INDEX = -100
PROMPT_FIELDS = ("brand", "category", "title", "price")  # then the description, then the tone


@dataclass(frozen=True)
class SpecialIds:
    pad: int
    eos: int
    fields: dict[str, int]
    outputs: dict[str, int]
    tones: dict[str, int]
    brand_slot: int | None = None  # None: an artifact from before delexicalisation (brands as text)

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
        )

    def prompt_only(self) -> list[int]:
        """Ids that may only appear in a prompt; generation never emits them."""
        return sorted({self.pad, *self.fields.values(), *self.tones.values()})


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


def delexicalise(text: str, brand: str | None) -> str:
    """`text` with every whole-word, case-insensitive occurrence of `brand` replaced by the slot."""
    brand = _text(brand)
    if not brand or not text:
        return text
    words = r"\s+".join(re.escape(word) for word in brand.split())
    return re.sub(rf"(?<!\w){words}(?!\w)", BRAND_SLOT, text, flags=re.IGNORECASE)


def source_text(item: dict) -> str:
    """The product's input text as one string: what the copy's facts must come from."""
    parts = [_text(item.get(name)) for name in ("brand", "category", "title")]
    parts += [format_price(item.get("price")), _text(item.get("description"))]
    return " ".join(part for part in parts if part)


def _encode(tokenizer: PreTrainedTokenizerBase, value: str) -> list[int]:
    return tokenizer.encode(" " + value, add_special_tokens=False) if value else []


def encode_prompt(
    tokenizer: PreTrainedTokenizerBase, ids: SpecialIds, item: dict, tone: str, max_source_tokens: int
) -> list[int]:
    """Prompt ids; a long description is cut first, then the title, to fit `max_source_tokens`."""
    if tone not in ids.tones:
        raise ValueError(f"unknown tone {tone!r}; allowed tones: {', '.join(TONES)}")
    brand = _text(item.get("brand")) if ids.brand_slot is not None else ""
    values = {name: delexicalise(_text(item.get(name)), brand) for name in PROMPT_FIELDS}
    values["price"] = format_price(item.get("price"))
    pieces = {name: _encode(tokenizer, values[name]) for name in PROMPT_FIELDS}
    description = _encode(tokenizer, delexicalise(_text(item.get("description")), brand))
    fixed = len(PROMPT_FIELDS) + 2  # one marker per field, the description marker, the tone
    budget = max_source_tokens - fixed - sum(len(piece) for piece in pieces.values())
    if budget < 0:
        pieces["title"] = pieces["title"][: max(0, len(pieces["title"]) + budget)]
        budget = 0
    prompt: list[int] = []
    for name in PROMPT_FIELDS:
        prompt += [ids.fields[name], *pieces[name]]
    prompt += [ids.fields["description"], *description[:budget], ids.tones[tone]]
    return prompt[:max_source_tokens]


def encode_target(
    tokenizer: PreTrainedTokenizerBase,
    ids: SpecialIds,
    headline: str,
    body: str,
    cta: str,
    max_target_tokens: int,
    brand: str | None = None,
) -> list[int]:
    brand = brand if ids.brand_slot is not None else None
    target: list[int] = []
    for name, value in (("headline", headline), ("body", body), ("cta", cta)):
        target += [ids.outputs[name], *_encode(tokenizer, delexicalise(_text(value), brand))]
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
    prompt = encode_prompt(tokenizer, ids, row, row["tone"], max_source_tokens)
    target = encode_target(
        tokenizer, ids, row["headline"], row["body"], row["cta"], max_target_tokens, row.get("brand")
    )
    return prompt + target, len(prompt)


def labels_for(input_ids: list[int], prompt_length: int) -> list[int]:
    """The loss counts only target tokens: the prompt is IGNORE_INDEX (padding is added later)."""
    return [IGNORE_INDEX] * prompt_length + input_ids[prompt_length:]


_MARKER = re.compile(r"<\|(headline|body|cta|eos)\|>")
_OTHER_SPECIAL = re.compile(r"<\|[a-z:]+\|>")
_LAST_WORD = re.compile(r"\S+$")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?])")


def parse_generation(text: str, *, brand: str | None = None, truncated: bool = False) -> dict[str, str]:
    """{headline, body, cta} from generated text; missing parts are empty strings.

    The brand slot becomes `brand` (the input's own). Text before the first marker counts as the
    headline (a model that skipped `<|headline|>`), everything after `<|eos|>` is dropped, a repeated
    marker keeps its first non-empty value, and stray special tokens are removed. `truncated`: the
    text stopped at the token limit, not at `<|eos|>`, so its last word may be cut ("$215.9" of
    "$215.99"): the last word of the field being written is dropped, and a cut word or number
    never ends a field.
    """
    brand = _text(brand)
    result = dict.fromkeys(("headline", "body", "cta"), "")
    current, position = "headline", 0
    for match in _MARKER.finditer(text):
        _keep_first(result, current, text[position : match.start()], brand)
        current, position = match.group(1), match.end()
        if current == "eos":
            return result
    tail = text[position:]
    if truncated:
        tail = _LAST_WORD.sub("", tail)  # a word (or a slot glued to one) still being written
    _keep_first(result, current, tail, brand)
    return result


def creative_from_tokens(
    tokenizer: PreTrainedTokenizerBase,
    ids: SpecialIds,
    tokens: list[int],
    brand: str | None,
    erased: set[int] | frozenset[int] = frozenset(),
) -> dict[str, str]:
    """{headline, body, cta} from generated ids, split at the marker *tokens* (text that merely looks
    like a marker stays text), with each brand slot token written as `brand`.

    Decoding writes the markers in order, so each field is one run of tokens. A row that did not
    end with `<|eos|>` stopped at the token limit: its last word may be cut ("$215.9" of "$215.99"),
    so the last word of the field it was writing is dropped; a cut word never ends a field. The
    tokens at the positions in `erased` (a foreign term the fact guard took out) become a space.
    """
    field_of = {token: name for name, token in ids.outputs.items()}
    fields: dict[str, list[str]] = {"headline": [], "body": [], "cta": []}
    current, run = "headline", []
    truncated, prompt_only = True, set(ids.prompt_only())
    for position, token in enumerate(tokens):
        if position in erased:  # a space in its place: the words around it never join
            fields[current].append(tokenizer.decode(run) + " ")
            run = []
            continue
        if token == ids.eos:
            truncated = False
            break
        if token in field_of or token == ids.brand_slot:
            fields[current].append(tokenizer.decode(run))
            run = []
            if token == ids.brand_slot:
                fields[current].append(_text(brand))
            else:
                current = field_of[token]
        elif token not in prompt_only:
            run.append(token)
    fields[current].append(tokenizer.decode(run))
    texts = {name: "".join(parts) for name, parts in fields.items()}
    if truncated:
        texts[current] = _LAST_WORD.sub("", texts[current])
    texts = {name: " ".join(text.split()) for name, text in texts.items()}
    if erased:  # "the Fender , built": no space is left before the punctuation that followed a term
        texts = {name: _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text) for name, text in texts.items()}
    return texts


def _keep_first(result: dict[str, str], name: str, value: str, brand: str) -> None:
    cleaned = " ".join(_OTHER_SPECIAL.sub(" ", value.replace(BRAND_SLOT, brand)).split())
    if cleaned and not result[name]:
        result[name] = cleaned


def creative_text(creative: dict) -> str:
    """Headline, body and call to action as one string, the unit the metrics score."""
    return " ".join(
        part for part in (creative.get("headline"), creative.get("body"), creative.get("cta")) if part
    )
