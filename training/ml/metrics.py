"""Text metrics for generated creatives, dependency-free so their exact values are easy to check."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

_WORD = re.compile(r"\w+(?:['.]\w+)*")
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?", re.ASCII)  # 0-9: the digits the number guard knows


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


def _phrase_pattern(phrases: Iterable[str], *, allow_plural: bool) -> re.Pattern[str] | None:
    """Whole-phrase, case-insensitive alternation, longest first so "chef's knife" beats "knife";
    the words of a phrase may be separated by any whitespace (a line break between fields too)."""
    ordered = sorted({phrase.strip() for phrase in phrases if phrase.strip()}, key=lambda p: (-len(p), p))
    if not ordered:
        return None
    alternation = "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in ordered)
    plural = "(?:e?s)?" if allow_plural else ""
    return re.compile(rf"(?<!\w)(?P<phrase>{alternation}){plural}(?!\w)", re.IGNORECASE)


def _key(phrase: str) -> str:
    return " ".join(phrase.casefold().split())


class FactChecker:
    """The one check that a creative states only its product's own facts (evaluation, the gate,
    the benchmarks and the tests of the synthetic catalog all use it).

    A creative is unfaithful when it contains
      * a number that is not a number of its input (by value: "1,200" == "1200", "50.00" == "50");
      * a known brand that is neither the product's own brand nor named in its input (a foreign
        brand: the model recalled another product's maker);
      * a known product noun (or its plural) that its input does not mention, counting the nouns
        inside a mentioned phrase ("knife" inside "chef's knife") and inside `noun`, the product's
        own noun when the caller knows it;
      * a known feature or material ("stainless steel", "touch controls": what the synthetic
        catalog says of its products) that its input does not mention.
    Matching is case-insensitive on whole phrases, longest first. Without a vocabulary only numbers
    are checked. `FactGuard` (fact_guard.py) enforces the same brand and noun rule, with the same
    `allowed_terms`, while a creative is written, so what it lets through this check accepts.
    """

    def __init__(
        self,
        known_brands: Iterable[str] | None = None,
        known_nouns: Iterable[str] | None = None,
        known_features: Iterable[str] | None = None,
    ):
        self.brands = sorted({brand.strip() for brand in known_brands or () if brand.strip()})
        self.nouns = sorted({noun.strip() for noun in known_nouns or () if noun.strip()})
        self.features = sorted({feature.strip() for feature in known_features or () if feature.strip()})
        self._brand_names = {_key(brand): brand for brand in self.brands}
        self._noun_names = {_key(noun): noun for noun in self.nouns}
        self._feature_names = {_key(feature): feature for feature in self.features}
        self._brand_pattern = _phrase_pattern(self.brands, allow_plural=False)
        self._noun_pattern = _phrase_pattern(self.nouns, allow_plural=True)
        self._feature_pattern = _phrase_pattern(self.features, allow_plural=False)
        self._within_cache: dict[tuple[str, str], frozenset[str]] = {}

    def foreign_numbers(self, output: str, source: str) -> list[str]:
        return sorted(numbers_in(output) - numbers_in(source))

    def allowed_terms(
        self, source: str, brand: str | None = None, noun: str | None = None
    ) -> set[tuple[str, str]]:
        """("brand" | "noun" | "feature", lowercase phrase) pairs a creative of this product may name:
        the known terms its input names, its own brand and noun, and the known terms inside any of
        those ("Acme" inside the brand "Acme Pro", "knife" inside "chef's knife", "steel" inside
        "stainless steel")."""
        brands = self._matches(self._brand_pattern, source) | (
            {_key(brand)} if brand and brand.strip() else set()
        )
        nouns = self._matches(self._noun_pattern, source) | ({_key(noun)} if noun and noun.strip() else set())
        allowed = {("brand", key) for phrase in brands for key in self._within(phrase, "brand")}
        allowed |= {("noun", key) for phrase in nouns for key in self._within(phrase, "noun")}
        features = self._matches(self._feature_pattern, source)
        allowed |= {("feature", key) for phrase in features for key in self._within(phrase, "feature")}
        return allowed

    def foreign_brands(self, output: str, source: str, brand: str | None = None) -> list[str]:
        """Known brands in `output` other than `brand` and those its `source` names."""
        allowed = self.allowed_terms(source, brand)
        found = self._matches(self._brand_pattern, output)
        return sorted(self._brand_names[key] for key in found if ("brand", key) not in allowed)

    def foreign_nouns(self, output: str, source: str, noun: str | None = None) -> list[str]:
        """Known product nouns in `output` that neither its `source` nor `noun` contains."""
        allowed = self.allowed_terms(source, None, noun)
        found = self._matches(self._noun_pattern, output)
        return sorted(self._noun_names[key] for key in found if ("noun", key) not in allowed)

    def foreign_features(self, output: str, source: str) -> list[str]:
        """Known features and materials in `output` that its `source` does not mention."""
        allowed = self.allowed_terms(source)
        found = self._matches(self._feature_pattern, output)
        return sorted(self._feature_names[key] for key in found if ("feature", key) not in allowed)

    def feature_mentions(self, text: str) -> list[str]:
        """The known features and materials `text` names, in order, as it spells them, each once."""
        if self._feature_pattern is None:
            return []
        seen, found = set(), []
        for match in self._feature_pattern.finditer(text):
            phrase = " ".join(match.group("phrase").split())
            if _key(phrase) not in seen:
                seen.add(_key(phrase))
                found.append(phrase)
        return found

    def names_own_fact(self, output: str, brand: str | None = None, noun: str | None = None) -> bool:
        """Whether `output` names the product's own brand or its own product noun (or its plural)."""
        for phrase, plural in ((brand, False), (noun, True)):
            if phrase and phrase.strip() and _phrase_pattern([phrase], allow_plural=plural).search(output):
                return True
        return False

    def violations(
        self, output: str, source: str, brand: str | None = None, noun: str | None = None
    ) -> list[str]:
        """What in `output` does not come from `source` (empty when faithful), numbers first."""
        return [
            *(f"number {number}" for number in self.foreign_numbers(output, source)),
            *(f"brand {name}" for name in self.foreign_brands(output, source, brand)),
            *(f"noun {name}" for name in self.foreign_nouns(output, source, noun)),
            *(f"feature {name}" for name in self.foreign_features(output, source)),
        ]

    def is_faithful(
        self, output: str, source: str, brand: str | None = None, noun: str | None = None
    ) -> bool:
        return not self.violations(output, source, brand, noun)

    def _matches(self, pattern: re.Pattern[str] | None, text: str) -> set[str]:
        if pattern is None:
            return set()
        return {_key(match.group("phrase")) for match in pattern.finditer(text)}

    def _within(self, phrase: str, kind: str) -> frozenset[str]:
        """Known terms of `kind` that are whole words of `phrase` (itself included), cached."""
        if (kind, phrase) not in self._within_cache:
            terms = {"brand": self.brands, "noun": self.nouns, "feature": self.features}[kind]
            self._within_cache[kind, phrase] = frozenset(
                _key(term) for term in terms if re.search(rf"(?<!\w){re.escape(_key(term))}(?!\w)", phrase)
            ) | {phrase}
        return self._within_cache[kind, phrase]


def fact_fidelity(
    outputs: Sequence[str],
    sources: Sequence[str],
    brands: Sequence[str | None] | None = None,
    known_brands: Iterable[str] | None = None,
    known_nouns: Iterable[str] | None = None,
    known_features: Iterable[str] | None = None,
) -> float:
    """Share of outputs whose numbers, brands, product nouns and features all come from their input."""
    if len(outputs) != len(sources) or (brands is not None and len(brands) != len(outputs)):
        raise ValueError("outputs, sources and brands differ in length")
    if not outputs:
        return 0.0
    checker = FactChecker(known_brands, known_nouns, known_features)
    brands = brands if brands is not None else [None] * len(outputs)
    return sum(map(checker.is_faithful, outputs, sources, brands)) / len(outputs)


def paired_bootstrap_interval(
    candidate: Sequence[float],
    production: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> dict:
    """The mean per-item difference candidate − production and its percentile bootstrap interval.

    Items are paired (the same product and tone scored by both models), so the resampling draws
    items, with replacement, and averages their differences: the interval says how much of a
    change in the mean is the items drawn rather than the model. Seeded, so the same scores give
    the same interval. {"delta", "low", "high", "items", "confidence", "resamples"}.
    """
    import numpy as np

    if len(candidate) != len(production):
        raise ValueError("candidate and production scores differ in length")
    if not candidate:
        raise ValueError("no paired scores")
    differences = np.asarray(candidate, dtype=float) - np.asarray(production, dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(differences), size=(resamples, len(differences)))
    means = differences[draws].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return {
        "delta": float(differences.mean()),
        "low": float(low),
        "high": float(high),
        "items": len(differences),
        "confidence": confidence,
        "resamples": resamples,
    }


OOD_METRICS = (
    "foreign_brand_rate",
    "own_fact_rate",
    "own_noun_rate",
    "number_fidelity",
    "foreign_noun_rate",
    "foreign_feature_rate",
    "distinct_2",
)
# What evaluation reports per channel (evaluate.score_creatives' `by_channel`, flat as
# "google_search_rouge_l" in MLflow and the gate's scores).
CHANNEL_METRICS = ("rouge_l", "fact_fidelity", "distinct_2", "lint_pass_rate", "limit_compliance", "items")
"""What the out-of-distribution set is scored on (it has no reference copy, so no ROUGE-L):

* foreign_brand_rate: share of creatives naming a known brand (the generator's, the catalog's or
  the set's own) that is neither the product's brand nor named by its input; the gate rejects a
  candidate above 0;
* own_fact_rate: share naming the product's own brand or its product noun (the set's `noun`);
* own_noun_rate: share naming the product's own noun (or its plural): the brand is written from a
  slot, the noun only if the model copies it from the title, so this is the copying figure;
* number_fidelity: share stating no number its input does not have;
* foreign_noun_rate: share naming a known product noun of the synthetic catalog that the input
  does not mention;
* foreign_feature_rate: the same for a feature or material of the synthetic catalog ("organic
  cotton" in the copy of a video game);
* distinct_2: unique word bigrams / all bigrams, pooled, as on the test split.
"""
