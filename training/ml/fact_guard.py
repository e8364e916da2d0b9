"""Decoding that can name a known brand, product noun or feature only when the product's input has it.

The number guard (number_guard.py) masks tokens before a step, so a number never starts wrong. A
brand or noun is a run of ordinary words ("board" is fine, "board game" may be another product's), so
this guard judges it when it is finished: when its last character is followed by a non-word character
(a space, punctuation, a field marker, the end token). A finished foreign term is erased whole, every
token of it, and the row writes on. (An earlier guard banned the closing token instead, which forced
the word to go on and glued garbage to it: "board gamelease". Erasing never cuts or glues a word.) A
term cut by the token limit is dropped with the cut last word (formatting.creative_from_tokens).
A feature or material ("aluminum" said of a webcam built from ABS) is a claim, not a name. Where the
product's input names a feature of the same kind (a material for a material) that the creative has
not stated yet, that one takes the erased term's place, in its case style: the model's "made from
aluminum" becomes "made from matte ABS", a fact of the input. Where it names none (a real product,
"organic cotton" said of a video game), the clause that made the claim ("made from organic cotton,")
goes with it when the creative is written, so no "made from , with" is left behind. A claim the
ad-policy lint (policy_lint.py) finds and the input does not make itself ("best", "click here", a
word in capitals the input does not spell so) goes the same way.
What is foreign is decided by `FactChecker.allowed_terms`, the rule evaluation scores with, so every
creative this guard lets through has no foreign brand or noun by that checker: a property the tests
check on adversarial logits, whatever the model.

The guard follows the text each row has written as bytes (a byte-level BPE token may hold half a
UTF-8 character); field markers count as a space, as they do when the fields are joined, and a
slot as the row's own brand or noun (`fills`), which is what `creative_from_tokens` writes in its place.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable

from transformers import PreTrainedTokenizerBase
from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

from training.ml.formatting import Erasures
from training.ml.metrics import FactChecker
from training.ml.policy_lint import PolicySupport

_LAST_WORD = re.compile(r"(\w+)\W*$")  # the last word of a text, and marks a term may end with ("Inc.")
_WORD_RUN = re.compile(r"\w+")
_WORD_CHAR = re.compile(r"\w")
TAIL_CHARS = 256  # longer than any brand or noun phrase; what a check needs of a row's text


def token_pieces(tokenizer: PreTrainedTokenizerBase) -> list[bytes]:
    """The bytes each token adds to the text; special tokens add a space (a field boundary)."""
    byte_of = {char: byte for byte, char in bytes_to_unicode().items()}
    special = set(tokenizer.all_special_ids) | {
        token_id for token_id, token in tokenizer.added_tokens_decoder.items() if token.special
    }
    pieces = []
    for token_id, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        if token_id in special or token is None:
            pieces.append(b" ")
        elif all(char in byte_of for char in token):
            pieces.append(bytes(byte_of[char] for char in token))
        else:  # not a byte-level tokenizer (a warm-started model's own)
            pieces.append(tokenizer.decode([token_id]).encode())
    return pieces


class FactVocabularyIndex:
    """Known terms by their last word, built once per loaded model."""

    def __init__(self, checker: FactChecker, materials: Iterable[str] = ()):
        self.checker = checker
        self.materials = frozenset(" ".join(material.casefold().split()) for material in materials)
        self.by_last_word: dict[str, list[tuple[re.Pattern[str], str, str]]] = {}
        for kind, terms, suffixes in (
            ("brand", checker.brands, ("",)),
            ("noun", checker.nouns, ("", "s", "es")),
            ("feature", checker.features, ("",)),
        ):
            for term in terms:
                words = term.casefold().split()
                for suffix in suffixes:
                    spelled = [*words[:-1], words[-1] + suffix]
                    pattern = re.compile(
                        r"(?<!\w)" + r"\s+".join(map(re.escape, spelled)) + r"$", re.IGNORECASE
                    )
                    entry = (pattern, kind, " ".join(words))
                    runs = _WORD_RUN.findall(spelled[-1])  # "G-sensor" is found by "sensor", "Inc." by "inc"
                    if runs:
                        self.by_last_word.setdefault(runs[-1], []).append(entry)
        for entries in self.by_last_word.values():  # the longest term first: "organic cotton", not "cotton"
            entries.sort(key=lambda entry: -len(entry[2]))

    def __bool__(self) -> bool:
        return bool(self.by_last_word)


class FactGuard:
    """Per row, the text written so far as the tokens it keeps; a foreign term is erased whole.

    After each step the characters the new token adds are scanned: where one of them is a non-word
    character and a foreign term ends just before it, the term is finished, and every word-carrying
    token of it (not a field marker) leaves the row's kept tokens. The text is then scanned again from
    where the term began, so words that the erasure brings together ("Barkley [Orbit] Bay") are judged
    as the text now reads. `erasures(row)` holds the row's step indices to leave out when the
    creative is written. The model goes on from what it wrote (its cache is not rewound), so the
    sentence continues around the gap: the copy may lose a noun, never gains a cut or glued word.
    """

    def __init__(
        self,
        index: FactVocabularyIndex,
        pieces: list[bytes],
        sources: list[str],
        brands: list[str],
        fills: list[dict[int, str]],
        special_ids: set[int],
        *,
        substitute: bool = True,
    ):
        self.enabled = bool(index)
        self._index, self._pieces, self._special = index, pieces, special_ids
        self._fills = [{token: value.encode() for token, value in row.items()} for row in fills]
        self._allowed = [
            index.checker.allowed_terms(source, brand) for source, brand in zip(sources, brands, strict=True)
        ]
        self._rows = list(range(len(sources)))  # each batch row's original row, as rows leave the batch
        self._kept: list[list[tuple[int, bytes, bool]]] = [[] for _ in sources]  # (step, piece, special)
        self._steps = [0] * len(sources)
        self._dropped: dict[int, set[int]] = {row: set() for row in self._rows}
        self._claims: dict[int, set[int]] = {row: set() for row in self._rows}
        self._substitutes: dict[int, dict[int, str]] = {row: {} for row in self._rows}
        # the features and materials each row's input names, in order: what may stand in for a foreign one
        self._offers = [index.checker.feature_mentions(source) if substitute else [] for source in sources]
        # the ad-policy lint's claims ("best", "click here", capitals the input does not use) are taken
        # out like a foreign feature that nothing can stand in for: with their clause
        self._policy = [PolicySupport(source) for source in sources]

    def erasures(self, row: int) -> Erasures:
        """What was taken out of original row `row` (see formatting.Erasures)."""
        return Erasures(
            frozenset(self._dropped.get(row, ())),
            frozenset(self._claims.get(row, ())),
            dict(self._substitutes.get(row, {})),
        )

    def advance(self, tokens: list[int]) -> None:
        if not self.enabled:
            return
        for row, token in enumerate(tokens):
            kept = self._kept[row]
            start = len(_decoded(kept))
            kept.append((self._steps[row], self._piece(row, token), token in self._special))
            self._steps[row] += 1
            self._erase_foreign_terms(row, start)

    def select(self, rows: list[int]) -> None:
        if not self.enabled:
            return
        self._rows = [self._rows[row] for row in rows]
        self._kept = [self._kept[row] for row in rows]
        self._steps = [self._steps[row] for row in rows]
        self._allowed = [self._allowed[row] for row in rows]
        self._fills = [self._fills[row] for row in rows]
        self._offers = [self._offers[row] for row in rows]
        self._policy = [self._policy[row] for row in rows]

    def _erase_foreign_terms(self, row: int, start: int) -> None:
        kept = self._kept[row]
        scan_from = max(start, 1)
        while True:
            text = _decoded(kept)
            term_start, kind, position = None, None, scan_from
            for position in range(scan_from, len(text)):
                if not _WORD_CHAR.match(text[position]):
                    term_start, kind = self._foreign_term(row, text[:position])
                    if term_start is None:
                        claim = self._policy[row].unsupported_end(text[:position])
                        term_start, kind = (claim, "claim") if claim is not None else (None, None)
                    if term_start is not None:
                        break
            if term_start is None:
                return
            original = self._rows[row]
            substitute = self._substitute(row, text[term_start:position], text) if kind == "feature" else None
            # Tokens that carry any character of the term leave the row; markers stay (they join as a space).
            prefix, remaining, placed = b"", [], False
            for entry in kept:
                begins = len(_text_of(prefix))
                prefix += entry[1]
                ends = len(_text_of(prefix))
                if not entry[2] and begins < position and ends > term_start:
                    self._dropped[original].add(entry[0])
                    if substitute is not None and not placed:  # at the term's first token
                        self._substitutes[original][entry[0]] = substitute[0]
                        # the input's phrase now stands in the text the guard reads (and is never erased)
                        remaining.append((entry[0], substitute[1], True))
                        placed = True
                    elif substitute is None and kind in ("feature", "claim"):  # nothing stands in
                        self._claims[original].add(entry[0])
                else:
                    remaining.append(entry)
            kept[:] = remaining
            scan_from = 1  # the text before the term moved too; a scan of ~100 characters is cheap

    def _substitute(self, row: int, term: str, text: str) -> tuple[str, bytes] | None:
        """(the phrase, the bytes it adds to the text) of the input's first feature of the erased
        term's kind (material or not) that the text does not state yet, cased like the term; or None."""
        material = " ".join(term.casefold().split()) in self._index.materials
        written = text.casefold()
        for phrase in self._offers[row]:
            key = " ".join(phrase.casefold().split())
            if (key in self._index.materials) == material and not re.search(
                rf"(?<!\w){re.escape(key)}(?!\w)", written
            ):
                cased = _cased(phrase, term)
                return cased, b" " + cased.encode()
        return None

    def _piece(self, row: int, token: int) -> bytes:
        return self._fills[row].get(token, self._pieces[token])

    def _foreign_term(self, row: int, text: str) -> tuple[int | None, str | None]:
        """(where a foreign term that ends `text` begins, as a character index, and its kind), or Nones."""
        last = _LAST_WORD.search(text)
        if last is None:
            return None, None
        tail_start = max(0, len(text) - TAIL_CHARS)
        for pattern, kind, term in self._index.by_last_word.get(last.group(1).casefold(), ()):
            if (kind, term) not in self._allowed[row] and (found := pattern.search(text, tail_start)):
                return found.start(), kind
        return None, None


def _cased(phrase: str, like: str) -> str:
    """`phrase` in the case style of `like`: Title Case ("Matte ABS"), capitalised, or as the input has it."""
    words = like.split()
    if len(words) > 1 and all(word[:1].isupper() for word in words):
        return " ".join(word[:1].upper() + word[1:] for word in phrase.split())
    if like[:1].isupper():
        return phrase[:1].upper() + phrase[1:]
    return phrase


def _decoded(entries) -> str:
    return _text_of(b"".join(piece for _step, piece, _special in entries))


def _text_of(data: bytes) -> str:
    """The characters `data` holds so far: "replace", as the tokenizer decodes (an invalid byte is a
    character, a non-word one), but a character still incomplete at the end is left out until its
    next byte comes, so half of "ź" is never read as the non-word character that ends "Acme"."""
    return codecs.getincrementaldecoder("utf-8")("replace").decode(data, final=False)
