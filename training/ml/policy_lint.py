"""An ad-policy lint: what Google Ads and Meta disapprove of in ad text, found before a marketer uploads it.

The rules follow the platforms' editorial policies: claims the advertiser cannot back ("best", "#1",
"guaranteed"), words in capitals for emphasis, repeated punctuation ("!!"), the generic "click here",
and numbers (prices, sizes, counts) that the product's own data does not contain. What the product's
input says itself is supported: a superlative its description states, a word its input spells in
capitals (a brand such as "LEGO", an abbreviation such as "USB"). Numbers are checked by the project's
one fact checker (`FactChecker.foreign_numbers`), so the lint and the fidelity metric always agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

from training.ml.findings import Finding
from training.ml.metrics import FactChecker

CODES = ("superlative", "all_caps", "repeated_punctuation", "click_here", "foreign_number")

_SUPERLATIVE = re.compile(
    r"(?<!\w)(?:best|greatest|cheapest|unbeatable|guaranteed|number\s+one|no\.\s?1(?!\d)|lowest\s+prices?)(?!\w)"
    r"|(?<![\w#])#1(?![\d])",
    re.IGNORECASE,
)
_LETTERS = re.compile(r"[^\W\d_]+")
_REPEATED_PUNCTUATION = re.compile(r"[!?！？]{2,}")
_CLICK_HERE = re.compile(r"(?<!\w)click\s+here(?!\w)", re.IGNORECASE)
_NUMBERS = FactChecker()  # no vocabulary: numbers only


def lint_creative(fields: Mapping[str, str], source: str) -> list[Finding]:
    """Findings for each field of a creative ({"headline": ..., "body": ...}), in field order; `source`
    is the product's input text (`training.ml.formatting.source_text`), what the copy may state."""
    context = _Source(source)
    findings: list[Finding] = []
    for field, value in fields.items():
        seen: set[tuple[str, str]] = set()
        for rule in _RULES:
            for finding in rule(field, value or "", context):
                if (finding.code, finding.text) not in seen:
                    seen.add((finding.code, finding.text))
                    findings.append(finding)
    return findings


class _Source:
    """What the product's own data supports, computed once per creative."""

    def __init__(self, text: str):
        self.text = text
        self.superlatives = {_normalise(match.group()) for match in _SUPERLATIVE.finditer(text)}
        self.capitalised_words = {word for word in _LETTERS.findall(text) if _is_capitals(word)}


def _superlatives(field: str, value: str, source: _Source) -> Iterator[Finding]:
    for match in _SUPERLATIVE.finditer(value):
        if _normalise(match.group()) not in source.superlatives:
            yield Finding(
                "superlative",
                field,
                match.group(),
                f'"{match.group()}" is a claim the product\'s data does not back: ad platforms disapprove '
                "superlatives and guarantees the landing page cannot prove. Say what the product does "
                "instead.",
            )


def _capitals(field: str, value: str, source: _Source) -> Iterator[Finding]:
    for word in _LETTERS.findall(value):
        if _is_capitals(word) and word not in source.capitalised_words:
            yield Finding(
                "all_caps",
                field,
                word,
                f'"{word}" is written in capitals: ad platforms reject capitals used for emphasis. '
                "Only a brand or a term the product's data spells in capitals may stay so.",
            )


def _punctuation(field: str, value: str, source: _Source) -> Iterator[Finding]:
    for match in _REPEATED_PUNCTUATION.finditer(value):
        yield Finding(
            "repeated_punctuation",
            field,
            match.group(),
            f'"{match.group()}" repeats punctuation: ad platforms allow one "!" or "?" at a time.',
        )


def _click_here(field: str, value: str, source: _Source) -> Iterator[Finding]:
    for match in _CLICK_HERE.finditer(value):
        yield Finding(
            "click_here",
            field,
            match.group(),
            f'"{match.group()}" is a generic call to action that ad platforms disapprove: '
            "say what the shopper gets (Shop now, Learn more).",
        )


def _foreign_numbers(field: str, value: str, source: _Source) -> Iterator[Finding]:
    for number in _NUMBERS.foreign_numbers(value, source.text):
        yield Finding(
            "foreign_number",
            field,
            number,
            f'"{number}" is not in the product\'s data: a price, size or count the landing page does not '
            "show gets the ad disapproved. Check it against the product before use.",
        )


_RULES: tuple[Callable[[str, str, _Source], Iterator[Finding]], ...] = (
    _superlatives,
    _capitals,
    _punctuation,
    _click_here,
    _foreign_numbers,
)


class PolicySupport:
    """The lint's rules for the decoding guard (fact_guard.py), on a text that ends where a word ends:
    where an unsupported claim ("best", "click here", a word in capitals the input does not spell so)
    that ends the text begins, so the guard can take it out before the creative is written."""

    def __init__(self, source: str):
        self._source = _Source(source)

    def unsupported_end(self, text: str) -> int | None:
        tail_start = max(0, len(text) - 64)
        for match in _SUPERLATIVE.finditer(text, tail_start):
            if match.end() == len(text) and _normalise(match.group()) not in self._source.superlatives:
                return match.start()
        for match in _CLICK_HERE.finditer(text, tail_start):
            if match.end() == len(text):
                return match.start()
        word = _LAST_WORD.search(text)  # the word just finished; the lint reads its letter runs
        for letters in _LETTERS.finditer(word.group() if word else ""):
            if _is_capitals(letters.group()) and letters.group() not in self._source.capitalised_words:
                return word.start() + letters.start()
        return None


_LAST_WORD = re.compile(r"\w+$")


def _is_capitals(word: str) -> bool:
    return len(word) >= 2 and word.isupper()


def _normalise(phrase: str) -> str:
    return "".join(phrase.casefold().split())  # "No. 1" == "no.1"
