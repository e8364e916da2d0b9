"""Training rows whose product noun is swapped for a made-up one: copying is the only way to be right.

The synthetic catalog writes about two hundred product nouns, so a model trained on it can learn
them as fixed words and write "Art Kit" for a guitar. For a share of the training products, the
product's noun (the longest catalog noun in its title) is replaced, consistently in the title,
description and reference copy, by a nonce noun made of random syllables ("Drovel", "Kestam Vire"),
different for every product. Such a word exists nowhere else in the data: the model can only write
it by copying it from the prompt, so it learns to take the product's noun from its own title, and
a product of a kind it never saw ("electric guitar", "green tea") gets its own noun back. Real
nouns are never drawn, so the out-of-distribution evaluation set stays unseen.

The swap is deterministic for (seed, sku): every tone of a product gets the same nonce, and a rerun
trains on the same rows.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable

SWAPPED_FIELDS = ("title", "description", "headline", "body", "cta")
_ONSETS = (
    "b",
    "br",
    "d",
    "dr",
    "f",
    "g",
    "gr",
    "k",
    "kl",
    "l",
    "m",
    "n",
    "p",
    "pl",
    "r",
    "s",
    "st",
    "t",
    "tr",
    "v",
    "z",
)
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("", "", "", "n", "l", "r", "m", "sk", "x")


def nonce_noun(rng: random.Random) -> str:
    """One or two made-up lowercase words of two or three syllables each."""
    words = []
    for _ in range(rng.choice((1, 1, 2))):
        syllables = rng.choice((2, 2, 3))
        words.append(
            "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)) + rng.choice(_CODAS)
        )
    return " ".join(words)


def noun_pattern(known_nouns: Iterable[str]) -> re.Pattern[str] | None:
    """Known nouns, longest first, as whole words with an optional plural ending (group 2)."""
    nouns = sorted({noun.strip() for noun in known_nouns if noun and noun.strip()}, key=len, reverse=True)
    if not nouns:
        return None
    alternatives = "|".join(r"\s+".join(map(re.escape, noun.split())) for noun in nouns)
    return re.compile(rf"(?<!\w)({alternatives})(es|s)?(?!\w)", re.IGNORECASE)


def swap_product_nouns(rows: list[dict], known_nouns: Iterable[str], share: float, seed: int) -> list[dict]:
    """`rows` with the noun of about `share` of the products replaced by a nonce noun (new dicts)."""
    pattern = noun_pattern(known_nouns)
    if pattern is None or share <= 0:
        return rows
    return [_swapped(row, pattern, share, seed) for row in rows]


def _swapped(row: dict, pattern: re.Pattern[str], share: float, seed: int) -> dict:
    digest = hashlib.sha256(f"{seed}:{row['sku']}".encode()).digest()
    if int.from_bytes(digest[:8], "big") / 2**64 >= share:
        return row
    found = pattern.search(str(row.get("title") or ""))
    if found is None:
        return row
    noun = " ".join(found.group(1).casefold().split())
    nonce = nonce_noun(random.Random(digest))

    def replace(match: re.Match[str]) -> str:
        if " ".join(match.group(1).casefold().split()) != noun:
            return match.group(0)
        return _same_case(nonce, match.group(1)) + (match.group(2) or "")

    swapped = dict(row)
    for name in SWAPPED_FIELDS:
        if isinstance(row.get(name), str):
            swapped[name] = pattern.sub(replace, row[name])
    return swapped


def _same_case(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word.title() if all(part[:1].isupper() for part in like.split()) else word.capitalize()
    return word
