"""Decoding that can only write numbers which occur in the product's input.

A price or a size that the copy gets wrong is the costliest mistake a marketing model can make, and
a small model copying digit by digit sometimes drifts towards the most common value it saw ("$74.99"
for an input of "$74.95"). The guard follows the digits each row is writing and, at every step,
masks the tokens that would turn them into a number the input does not contain: a digit is allowed
only while the digits so far are the start of an input number, and a number may only end once it is
a whole input number. Words, brands and everything else are left to the model.

It needs a tokenizer whose digits are single tokens (this project's tokenizer splits every digit);
for any other tokenizer (a warm-started model's own) it switches itself off.
"""

from __future__ import annotations

import math
import re

import torch
from transformers import PreTrainedTokenizerBase

_SOURCE_NUMBER = re.compile(r"\d+(?:[.,]\d+)*", re.ASCII)
_DIGITS = "0123456789"
_SEPARATORS = ".,"


class NumberGuard:
    def __init__(self, tokenizer: PreTrainedTokenizerBase, sources: list[str], device: torch.device):
        vocab = tokenizer.get_vocab()
        digit_ids = [vocab.get(digit) for digit in _DIGITS]
        separator_ids = [vocab.get(separator) for separator in _SEPARATORS]
        digits_elsewhere = any(char in _DIGITS for token in vocab if token not in _DIGITS for char in token)
        self.enabled = None not in digit_ids and None not in separator_ids and not digits_elsewhere
        if not self.enabled:
            return
        self._char_of = {
            token_id: char
            for token_id, char in zip(digit_ids + separator_ids, _DIGITS + _SEPARATORS, strict=True)
        }
        self._digit_ids = torch.tensor(digit_ids, device=device)
        self._separator_ids = torch.tensor(separator_ids, device=device)
        self._allowed = [set(_SOURCE_NUMBER.findall(source)) for source in sources]
        self._written = [""] * len(sources)  # the number each row is in the middle of writing
        self._glued = [False] * len(sources)  # the last token was a full stop or comma after a number
        rows = len(sources)
        self._digit_ok = torch.ones((rows, len(_DIGITS)), dtype=torch.bool)
        self._separator_ok = torch.ones((rows, len(_SEPARATORS)), dtype=torch.bool)
        self._other_ok = torch.ones(rows, dtype=torch.bool)
        for row in range(rows):
            self._update_row(row)

    def mask(self, logits: torch.Tensor) -> None:
        """Set the logits of tokens that would write an input-foreign number to -inf, in place."""
        if not self.enabled:
            return
        blocked = (~self._other_ok).to(logits.device)[:, None].expand_as(logits).clone()
        blocked[:, self._digit_ids] = ~self._digit_ok.to(logits.device)
        blocked[:, self._separator_ids] = ~self._separator_ok.to(logits.device)
        logits.masked_fill_(blocked, -math.inf)

    def advance(self, tokens: list[int]) -> None:
        """Record each row's chosen token."""
        if not self.enabled:
            return
        for row, token in enumerate(tokens):
            char, written, glued = self._char_of.get(token), self._written[row], False
            if char is None:
                written = ""
            elif char in _DIGITS:
                written += char
            elif written and written[-1] not in _SEPARATORS and self._starts_a_number(row, written + char):
                written += char  # a decimal point or thousands comma inside an input number
            else:
                # punctuation after a finished number ("$74." ends a sentence), or outside one; right
                # after a finished number a digit would read as part of it ("74.5"), so none may follow
                glued, written = bool(written), ""
            if written or self._written[row] or glued != self._glued[row]:
                self._written[row], self._glued[row] = written, glued
                self._update_row(row)

    def select(self, rows: list[int]) -> None:
        """Keep the state of these rows only, in this order (the batch dropped its finished rows)."""
        if not self.enabled:
            return
        index = torch.tensor(rows, dtype=torch.long)
        self._allowed = [self._allowed[row] for row in rows]
        self._written = [self._written[row] for row in rows]
        self._glued = [self._glued[row] for row in rows]
        self._digit_ok = self._digit_ok[index]
        self._separator_ok = self._separator_ok[index]
        self._other_ok = self._other_ok[index]

    def _starts_a_number(self, row: int, prefix: str) -> bool:
        return any(number.startswith(prefix) for number in self._allowed[row])

    def _update_row(self, row: int) -> None:
        written = self._written[row]
        complete = written in self._allowed[row]
        if written.endswith(tuple(_SEPARATORS)):
            complete = written[:-1] in self._allowed[row]  # "$74." may be a sentence's full stop
        for index, digit in enumerate(_DIGITS):
            self._digit_ok[row, index] = not self._glued[row] and self._starts_a_number(row, written + digit)
        for index, separator in enumerate(_SEPARATORS):
            inside = (
                bool(written) and written[-1] in _DIGITS and self._starts_a_number(row, written + separator)
            )
            self._separator_ok[row, index] = inside or not written or complete
        self._other_ok[row] = not written or complete
        if not (self._other_ok[row] or self._digit_ok[row].any() or self._separator_ok[row].any()):
            self._other_ok[row] = True  # never leave a row without a token to write
