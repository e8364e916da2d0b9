"""Text metrics for generated creatives, dependency-free so their exact values are easy to check."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

_WORD = re.compile(r"\w+(?:['.]\w+)*")
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def word_tokens(text: str) -> list[str]:
    """Lowercase word tokens; "49.99" and "don't" stay one token each."""
    return _WORD.findall(text.lower())


def _lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for column, other in enumerate(second, start=1):
            current.append(previous[column - 1] + 1 if token == other else max(previous[column], current[-1]))
        previous = current
    return previous[-1]


def rouge_l_f1(candidate: str, reference: str) -> float:
    """ROUGE-L F1 (beta = 1) from the longest common subsequence of lowercase word tokens."""
    candidate_tokens, reference_tokens = word_tokens(candidate), word_tokens(reference)
    if not candidate_tokens or not reference_tokens:
        return 0.0
    common = _lcs_length(candidate_tokens, reference_tokens)
    if common == 0:
        return 0.0
    precision, recall = common / len(candidate_tokens), common / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


def mean_rouge_l(candidates: Sequence[str], references: Sequence[str]) -> float:
    if len(candidates) != len(references):
        raise ValueError("candidates and references differ in length")
    if not candidates:
        return 0.0
    return sum(map(rouge_l_f1, candidates, references)) / len(candidates)


def distinct_n(texts: Iterable[str], n: int = 2) -> float:
    """Unique n-grams / all n-grams, pooled over every text (n-grams never cross texts)."""
    grams = []
    for text in texts:
        tokens = word_tokens(text)
        grams += [tuple(tokens[index : index + n]) for index in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _normalise_number(raw: str) -> str:
    try:
        value = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        return raw
    text = format(value.normalize(), "f")
    return text


def numbers_in(text: str) -> set[str]:
    """Numbers as canonical strings: "1,200" == "1200", "50.00" == "50", "1.70" == "1.7"."""
    return {_normalise_number(raw) for raw in _NUMBER.findall(text)}


def _term_pattern(term: str) -> re.Pattern[str]:
    words = r"\s+".join(re.escape(word) for word in term.lower().split())
    return re.compile(rf"(?<!\w){words}(?:s|es)?(?!\w)")


class FactChecker:
    """Decides whether a creative's facts all come from its product's input text.

    Unfaithful when the creative contains a number absent from the input, names a known brand other
    than the product's (or one the input itself names), or names a known product noun that the input
    does not mention. Without a vocabulary only numbers are checked. Matching is case-insensitive on
    whole words, and a noun also matches its plural ("kettle" / "kettles").
    """

    def __init__(self, known_brands: Iterable[str] | None = None, known_nouns: Iterable[str] | None = None):
        self._brands = [
            (brand, _term_pattern(brand)) for brand in sorted(set(known_brands or ())) if brand.strip()
        ]
        self._nouns = [(noun, _term_pattern(noun)) for noun in sorted(set(known_nouns or ())) if noun.strip()]

    def violations(self, output: str, source: str, brand: str | None = None) -> list[str]:
        """What in `output` does not come from `source` (empty when faithful)."""
        problems = [f"number {number}" for number in sorted(numbers_in(output) - numbers_in(source))]
        output_lower, source_lower = output.lower(), source.lower()
        own_brand = (brand or "").strip().lower()
        for name, pattern in self._brands:
            if (
                name.lower() != own_brand
                and pattern.search(output_lower)
                and not pattern.search(source_lower)
            ):
                problems.append(f"brand {name}")
        for name, pattern in self._nouns:
            if pattern.search(output_lower) and not pattern.search(source_lower):
                problems.append(f"noun {name}")
        return problems

    def is_faithful(self, output: str, source: str, brand: str | None = None) -> bool:
        return not self.violations(output, source, brand)


def fact_fidelity(
    outputs: Sequence[str],
    sources: Sequence[str],
    brands: Sequence[str | None] | None = None,
    known_brands: Iterable[str] | None = None,
    known_nouns: Iterable[str] | None = None,
) -> float:
    """Share of outputs whose numbers, brands and product nouns all come from their input."""
    if len(outputs) != len(sources) or (brands is not None and len(brands) != len(outputs)):
        raise ValueError("outputs, sources and brands differ in length")
    if not outputs:
        return 0.0
    checker = FactChecker(known_brands, known_nouns)
    brands = brands if brands is not None else [None] * len(outputs)
    return sum(map(checker.is_faithful, outputs, sources, brands)) / len(outputs)
