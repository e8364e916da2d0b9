"""Decoding that can name a known brand or product noun only when the product's input has it.

The number guard (number_guard.py) masks tokens before a step; this guard checks the token each row
has chosen and, when it would finish a foreign term, bans that token and lets the row choose again
(it always can: a token of letters or digits alone never finishes a term). A term is finished when
its last character is followed by a non-word character (a space, punctuation, a field marker, the
end token); a term that ends exactly where a token ends is judged by the next token, and one at the
token limit is dropped with the cut last word (formatting.creative_from_tokens). What is foreign is
decided by `FactChecker.allowed_terms`, the rule evaluation scores with, so every creative this guard
lets through has no foreign brand or noun by that checker: a property the tests check on
adversarial logits, whatever the model.

The guard follows the text each row has written as bytes (a byte-level BPE token may hold half a
UTF-8 character); field markers count as a space, as they do when the fields are joined, and the
brand slot as the row's own brand, which is what `creative_from_tokens` writes in its place.
"""

from __future__ import annotations

import math
import re

import torch
from transformers import PreTrainedTokenizerBase
from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

from training.ml.metrics import FactChecker

_LAST_WORD = re.compile(r"(\w+)$")
_WORD_CHAR = re.compile(r"\w")
TAIL_BYTES = 256  # longer than any brand or noun phrase; what a check needs of a row's text


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

    def __init__(self, checker: FactChecker):
        self.checker = checker
        self.by_last_word: dict[str, list[tuple[re.Pattern[str], str, str]]] = {}
        for kind, terms, suffixes in (
            ("brand", checker.brands, ("",)),
            ("noun", checker.nouns, ("", "s", "es")),
        ):
            for term in terms:
                words = term.casefold().split()
                for suffix in suffixes:
                    spelled = [*words[:-1], words[-1] + suffix]
                    pattern = re.compile(
                        r"(?<!\w)" + r"\s+".join(map(re.escape, spelled)) + r"$", re.IGNORECASE
                    )
                    entry = (pattern, kind, " ".join(words))
                    self.by_last_word.setdefault(spelled[-1], []).append(entry)

    def __bool__(self) -> bool:
        return bool(self.by_last_word)


def boundary_tokens(pieces: list[bytes], slot_id: int | None) -> list[int]:
    """Tokens whose text starts with a non-word character (a space, punctuation, a special token):
    after a finished term, any of them would close it. The brand slot counts as one (conservative)."""
    starts = [
        index
        for index, piece in enumerate(pieces)
        if not _WORD_CHAR.match(piece.decode("utf-8", "replace")[:1] or " ")
    ]
    return sorted({*starts, *([slot_id] if slot_id is not None else [])})


class FactGuard:
    def __init__(
        self,
        index: FactVocabularyIndex,
        pieces: list[bytes],
        boundaries: torch.Tensor,
        sources: list[str],
        brands: list[str],
        slot_id: int | None,
    ):
        self.enabled = bool(index)
        self._index, self._pieces, self._slot, self._boundaries = index, pieces, slot_id, boundaries
        self._brand_bytes = [brand.encode() for brand in brands]
        self._allowed = [
            index.checker.allowed_terms(source, brand) for source, brand in zip(sources, brands, strict=True)
        ]
        self._tail = [b""] * len(sources)
        self._closed = [False] * len(sources)  # the tail ends with a foreign term: no boundary may follow

    def mask(self, logits: torch.Tensor) -> None:
        """Rows whose text ends with a foreign term may not close it: every token that starts with a
        non-word character is set to -inf (one check per row, not one banned token per round)."""
        if not self.enabled:
            return
        rows = [row for row, closed in enumerate(self._closed) if closed]
        if rows:
            index = torch.tensor(rows, device=logits.device)
            logits[index[:, None], self._boundaries.to(logits.device)[None, :]] = -math.inf

    def violates(self, row: int, token: int) -> bool:
        """Whether writing `token` in `row` would finish a term its product may not name."""
        if not self.enabled:
            return False
        # "replace", as the tokenizer decodes: an invalid byte is a character (a non-word one).
        before = self._tail[row].decode("utf-8", "replace")
        after = (self._tail[row] + self._piece(row, token)).decode("utf-8", "replace")
        for position in range(max(len(before), 1), len(after)):
            if not _WORD_CHAR.match(after[position]) and self._foreign_term_ends(row, after[:position]):
                return True
        return False

    def advance(self, tokens: list[int]) -> None:
        if not self.enabled:
            return
        for row, token in enumerate(tokens):
            self._tail[row] = (self._tail[row] + self._piece(row, token))[-TAIL_BYTES:]
            self._closed[row] = self._foreign_term_ends(row, self._tail[row].decode("utf-8", "replace"))

    def select(self, rows: list[int]) -> None:
        if not self.enabled:
            return
        self._tail = [self._tail[row] for row in rows]
        self._closed = [self._closed[row] for row in rows]
        self._allowed = [self._allowed[row] for row in rows]
        self._brand_bytes = [self._brand_bytes[row] for row in rows]

    def _piece(self, row: int, token: int) -> bytes:
        return self._brand_bytes[row] if token == self._slot else self._pieces[token]

    def _foreign_term_ends(self, row: int, text: str) -> bool:
        last = _LAST_WORD.search(text)
        if last is None:
            return False
        for pattern, kind, term in self._index.by_last_word.get(last.group(1).casefold(), ()):
            if (kind, term) not in self._allowed[row] and pattern.search(text[-TAIL_BYTES:]):
                return True
        return False
