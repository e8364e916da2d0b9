"""Decoding within character limits: a field never ends over its limit, and never on a cut word.

A channel (training/ml/channels.py) limits each field of a creative: a Google search headline to 30
characters, its description to 90, counted as the platform counts them (`display_width`: a
double-width character counts 2). Two mechanisms keep every output within them, whatever the model:

* While decoding, a token that would take the field it writes past its limit is masked (its logit is
  -inf), so the model itself ends the field (writes the next field's marker) when nothing more fits.
  A token's width is counted from its bytes as the text will show them, and a byte sequence that is
  not yet a whole character counts one per byte, never less than the character it becomes.
* Where the budget took away the token the model wanted inside a word and the field then ended, that
  word may be cut ("Cutting Bo" of "Cutting Board"), so its tokens leave the creative, as a word cut
  by `max_new_tokens` does. When the creative is written (formatting.creative_from_tokens) what the
  budget could not see (a slot's value, a feature the fact guard put in) is counted again, and whole
  words leave the end of a field that is still over its limit; a field that was cut ends after its
  last whole sentence when it has one, so a description does not stop mid-sentence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from training.ml.channels import display_width
from training.ml.formatting import OUTPUT_FIELDS, SpecialIds


def piece_widths(pieces: list[bytes]) -> list[int]:
    """Each token's width: the display width of its text, or one per byte where its bytes are not
    whole characters (a part of a multi-byte character)."""
    widths = []
    for piece in pieces:
        try:
            widths.append(display_width(piece.decode("utf-8")))
        except UnicodeDecodeError:
            widths.append(len(piece))
    return widths


class FieldBudget:
    """Per row: the width the field being written has used, and which of its steps to drop.

    `limits[row]` maps a field name to its maximum width (a field it leaves out has no limit);
    `fills[row]` is the text each slot token of the row stands for.
    """

    def __init__(
        self,
        ids: SpecialIds,
        widths: list[int],
        starts_word: list[bool],
        limits: Sequence[Mapping[str, int | None] | None],
        fills: Sequence[Mapping[int, str]],
        device: torch.device,
    ):
        rows = len(limits)
        self.enabled = any(limit for limit in limits)
        self._dropped: dict[int, set[int]] = {row: set() for row in range(rows)}
        self._cut_fields: dict[int, set[str]] = {row: set() for row in range(rows)}
        if not self.enabled:
            return
        self._markers = {ids.outputs[name]: index for index, name in enumerate(OUTPUT_FIELDS)}
        self._ends = {*self._markers, ids.eos}
        self._next_end = [ids.outputs["body"], ids.outputs["cta"], ids.eos]  # after each field
        self._widths = widths
        self._starts_word = starts_word
        self._width_tensor = torch.tensor(widths, dtype=torch.float32, device=device)
        self._limits = torch.tensor(
            [[float((limit or {}).get(name) or math.inf) for name in OUTPUT_FIELDS] for limit in limits],
            dtype=torch.float32,
            device=device,
        )
        self._fill_widths = [{token: display_width(text) for token, text in fill.items()} for fill in fills]
        self._rows = list(range(rows))  # each batch row's original row, as rows leave the batch
        self._field = [0] * rows  # index into OUTPUT_FIELDS of the field being written
        self._used = [0] * rows
        self._step = [0] * rows
        self._word: list[list[int]] = [[] for _ in range(rows)]  # steps of the word being written
        self._bound = [False] * rows  # the budget took the model's choice inside the current word
        self._wanted_masked: list[bool] = [False] * rows  # the wanted token went on with a word
        self._wanted_taken: list[bool] = [False] * rows  # the wanted token did not fit

    def mask(self, logits: torch.Tensor) -> None:
        if not self.enabled:
            return
        fields = torch.tensor(self._field, device=logits.device)
        remaining = self._limits[torch.arange(len(self._field), device=logits.device), fields.clamp(max=2)]
        remaining = remaining - torch.tensor(self._used, dtype=torch.float32, device=logits.device)
        over = self._width_tensor[None, :] > remaining[:, None]
        for row, fills in enumerate(self._fill_widths):
            for token, width in fills.items():
                over[row, token] = width > float(remaining[row])
        for token in self._ends:
            over[:, token] = False  # a field can always end
        # The model's choice was taken inside a word when it wanted a token that goes on with the word
        # (one starting a new word means the word before it was whole).
        wanted = logits.argmax(dim=-1).tolist()
        rows = torch.arange(len(wanted), device=logits.device)
        masked = over[rows, torch.tensor(wanted, device=logits.device)]
        self._wanted_taken = [bool(is_masked) for is_masked in masked.tolist()]
        self._wanted_masked = [
            taken and not self._starts_word[token] and token not in self._fill_widths[row]
            for row, (token, taken) in enumerate(zip(wanted, self._wanted_taken, strict=True))
        ]
        logits.masked_fill_(over, -math.inf)
        # Another rule may hold a field open (the number guard, inside a number) while nothing more
        # fits: the field then ends anyway, and the word in progress leaves it (see advance).
        for row in (~torch.isfinite(logits).any(dim=-1)).nonzero().flatten().tolist():
            logits[row, self._next_end[min(self._field[row], 2)]] = 0.0
            self._wanted_masked[row] = self._wanted_taken[row] = True

    def advance(self, tokens: list[int]) -> None:
        if not self.enabled:
            return
        for row, token in enumerate(tokens):
            original, step = self._rows[row], self._step[row]
            self._step[row] += 1
            if token in self._ends:
                if self._bound[row] or self._wanted_masked[row]:  # the word in progress may be cut: it goes
                    self._dropped[original].update(self._word[row])
                if self._bound[row] or self._wanted_taken[row]:  # the model had more to say
                    self._cut_fields[original].add(OUTPUT_FIELDS[min(self._field[row], 2)])
                if token in self._markers:
                    self._field[row] = self._markers[token]
                self._used[row], self._word[row], self._bound[row] = 0, [], False
                continue
            width = self._fill_widths[row].get(token, self._widths[token])
            self._used[row] += width
            if token in self._fill_widths[row] or self._starts_word[token]:
                self._word[row], self._bound[row] = [step], False
            else:
                self._word[row].append(step)
            self._bound[row] = self._bound[row] or bool(self._wanted_masked[row])

    def select(self, rows: list[int]) -> None:
        if not self.enabled:
            return
        for name in ("_rows", "_field", "_used", "_step", "_word", "_bound", "_fill_widths"):
            values = getattr(self, name)
            setattr(self, name, [values[row] for row in rows])
        self._limits = self._limits[torch.tensor(rows, device=self._limits.device)]

    def dropped(self, row: int) -> set[int]:
        """Step indices of original row `row` that belong to a word the budget may have cut."""
        return self._dropped.get(row, set())

    def cut_fields(self, row: int) -> set[str]:
        """The fields of original row `row` that the budget ended."""
        return self._cut_fields.get(row, set())
