"""The synthetic catalog: reproducible, realistic, and every reference creative faithful to its product.

Plain pytest, no database: `products.generator` imports no Django.
"""

from __future__ import annotations

import hashlib
import random
import re
import subprocess
import sys
import zlib
from collections import Counter, defaultdict
from decimal import Decimal
from itertools import islice
from itertools import product as product_of
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from products import generator
from products.generator import (
    BODY_MAX_CHARS,
    CATEGORIES,
    CATEGORY_PRICE_RANGES,
    CHANNEL_OUTPUT_LIMITS,
    CHANNELS,
    CTA_MAX_CHARS,
    HEADLINE_MAX_CHARS,
    SHOP_URL_PREFIX,
    TONES,
    VOCABULARY,
    GeneratedProduct,
    as_record,
    channel_text_width,
    generate_catalog,
    iter_catalog,
    product_source_text,
    shop_url,
    words_within,
)
from training.ml import channels as training_channels  # tests may import any layer
from training.ml import formatting
from training.ml.metrics import FactChecker  # the one fact checker
from training.ml.policy_lint import lint_creative

CHECKER = FactChecker(VOCABULARY.all_brands, VOCABULARY.all_nouns, VOCABULARY.all_features)

SKU_PATTERN = re.compile(r"[A-Z]{4}-[0-9A-F]{1,16}-[0-9]{6,8}")
SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


@pytest.fixture(autouse=True)
def _isolated_storage() -> None:
    """Stands in for tests/conftest.py's Django fixture: the generator touches no storage.

    With both overrides this module runs without Django settings (`-p no:django`), which is
    how the generator is meant to be used: plain Python, no database.
    """


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    """Stands in for tests/conftest.py's cache fixture: the generator uses no cache."""


@pytest.fixture(scope="module")
def catalog_10k() -> list[GeneratedProduct]:
    return generate_catalog(10_000, seed=2024)


def _texts_of(product: GeneratedProduct, channels: tuple[str, ...] = ("generic",)) -> list[str]:
    return [
        text
        for creative in product.creatives
        if creative.channel in channels
        for text in (creative.headline, creative.body, creative.cta)
    ]


# ------------------------------------------------------------------------------ determinism


def test_the_same_seed_gives_the_same_catalog() -> None:
    assert generate_catalog(500, seed=11) == generate_catalog(500, seed=11)


def test_different_seeds_give_different_products_and_disjoint_skus() -> None:
    first, second = generate_catalog(500, seed=1), generate_catalog(500, seed=2)

    assert {product.sku for product in first}.isdisjoint(product.sku for product in second)
    differing = sum(a.title != b.title or a.description != b.description for a, b in zip(first, second))
    assert differing > 450


def test_chunked_iteration_equals_one_shot_generation() -> None:
    """Chunk sizes that cut through the generator's internal seeding blocks, in any order."""
    whole = generate_catalog(1_200, seed=5)

    for chunk_size in (1, 97, 256, 300):
        chunks = [
            list(iter_catalog(min(chunk_size, 1_200 - start), seed=5, start=start))
            for start in range(0, 1_200, chunk_size)
        ]
        assert [product for chunk in chunks for product in chunk] == whole
    assert list(iter_catalog(3, seed=5, start=1_000)) == whole[1_000:1_003]
    assert list(islice(iter_catalog(1_200, seed=5), 700, 705)) == whole[700:705]


def test_each_product_consumes_the_declared_number_of_draws() -> None:
    """Chunks that start mid-block skip a fixed number of draws per product; this keeps it exact."""
    calls = 0
    uniform = random.Random(0).random

    def counting_draw() -> float:
        nonlocal calls
        calls += 1
        return uniform()

    for index in range(200):
        before = calls
        generator._build_product(counting_draw, "0", index)
        assert calls - before == generator._DRAWS_PER_PRODUCT


def test_output_does_not_depend_on_the_hash_seed() -> None:
    script = (
        "import hashlib; from products.generator import generate_catalog; "
        "print(hashlib.sha256(repr(generate_catalog(300, seed=9)).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={"PYTHONHASHSEED": hash_seed},
            cwd=Path(generator.__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for hash_seed in ("0", "1", "4242")
    }
    assert digests == {hashlib.sha256(repr(generate_catalog(300, seed=9)).encode()).hexdigest()}


def test_arguments_are_checked_when_called_not_when_iterated() -> None:
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*64\), got -1"):
        iter_catalog(10, seed=-1)
    with pytest.raises(ValueError, match="count and start must be >= 0, got count=-5, start=0"):
        iter_catalog(-5, seed=1)
    with pytest.raises(ValueError, match="a catalog holds at most 100,000,000 products"):
        iter_catalog(2, seed=1, start=99_999_999)
    assert generate_catalog(0, seed=1) == []


# ------------------------------------------------------------------------------ catalog shape


def test_skus_are_unique_well_formed_and_short(catalog_10k: list[GeneratedProduct]) -> None:
    skus = [product.sku for product in catalog_10k]

    assert len(set(skus)) == len(skus)
    assert all(SKU_PATTERN.fullmatch(sku) and len(sku) <= 32 for sku in skus)
    largest = next(iter_catalog(1, seed=2**64 - 1, start=99_999_999))
    assert largest.sku.endswith("-FFFFFFFFFFFFFFFF-99999999") and len(largest.sku) <= 32


def test_prices_sit_in_their_category_range_with_store_endings(catalog_10k: list[GeneratedProduct]) -> None:
    for product in catalog_10k:
        low, high = CATEGORY_PRICE_RANGES[product.category]
        assert Decimal(0) < low <= product.price <= high, product
        assert product.price.as_tuple().exponent == -2
        assert str(product.price)[-3:] in {".99", ".49", ".95", ".00"}


def test_ratings_are_one_decimal_between_1_and_5_mostly_high(catalog_10k: list[GeneratedProduct]) -> None:
    ratings = [product.rating for product in catalog_10k]

    assert all(Decimal("1.0") <= rating <= Decimal("5.0") for rating in ratings)
    assert all(rating.as_tuple().exponent == -1 for rating in ratings)
    typical = sum(Decimal("3.5") <= rating <= Decimal("4.9") for rating in ratings)
    assert typical / len(ratings) > 0.8


def test_every_category_appears_with_its_own_brands(catalog_10k: list[GeneratedProduct]) -> None:
    brands_by_category: dict[str, set[str]] = defaultdict(set)
    for product in catalog_10k:
        brands_by_category[product.category].add(product.brand)

    assert len(CATEGORIES) >= 8
    assert sorted(brands_by_category) == sorted(CATEGORIES)
    assert all(5 <= len(brands) <= 8 for brands in brands_by_category.values())
    assert sum(len(brands) for brands in brands_by_category.values()) == len(VOCABULARY.all_brands)
    assert len(set(VOCABULARY.all_brands)) == len(VOCABULARY.all_brands)


def test_titles_and_descriptions_read_like_a_store(catalog_10k: list[GeneratedProduct]) -> None:
    for product in catalog_10k:
        assert product.brand in product.title and product.spec in product.title
        assert len(product.title) <= 120
        assert product.material in product.description
        description = product.description.casefold()
        assert all(feature.casefold() in description for feature in product.features)
        assert 2 <= len(SENTENCE_END.findall(product.description)) <= 4, product.description
    assert len({product.title for product in catalog_10k}) > 7_000


def test_every_product_has_one_creative_per_tone_in_every_channel(
    catalog_10k: list[GeneratedProduct],
) -> None:
    expected = [(channel, tone) for channel in CHANNELS for tone in TONES]

    for product in catalog_10k:
        assert [(creative.channel, creative.tone) for creative in product.creatives] == expected


def test_every_product_has_one_bounded_generic_creative_per_tone(catalog_10k: list[GeneratedProduct]) -> None:
    for product in catalog_10k:
        generic = [creative for creative in product.creatives if creative.channel == "generic"]
        assert tuple(creative.tone for creative in generic) == TONES
        assert product.creatives[: len(TONES)] == tuple(generic)  # first, as before channels
        for creative in generic:
            assert 0 < len(creative.headline) <= HEADLINE_MAX_CHARS
            assert 0 < len(creative.body) <= BODY_MAX_CHARS
            assert 1 <= len(SENTENCE_END.findall(creative.body)) <= 2, creative.body
            assert 0 < len(creative.cta) <= CTA_MAX_CHARS


def test_as_record_gives_the_api_fields() -> None:
    product = generate_catalog(1, seed=3)[0]

    assert as_record(product) == {
        "sku": product.sku,
        "title": product.title,
        "category": product.category,
        "brand": product.brand,
        "description": product.description,
        "price": str(product.price),
        "rating": float(product.rating),
        "url": product.url,
    }


def test_every_product_links_to_its_own_page_on_the_example_shop(catalog_10k: list[GeneratedProduct]) -> None:
    urls = [product.url for product in catalog_10k]

    assert len(set(urls)) == len(urls)
    for product in catalog_10k:
        assert product.url == shop_url(product.sku)  # the generator's shortcut gives the same URL
        assert product.url == f"https://shop.example.com/p/{product.sku.lower()}"
        assert re.fullmatch(r"https://shop\.example\.com/p/[a-z0-9-]{1,30}", product.url)
    assert generate_catalog(1, seed=2024)[0].url == "https://shop.example.com/p/" + catalog_10k[0].sku.lower()


def test_urls_are_deterministic_and_follow_the_sku_whatever_the_chunking() -> None:
    whole = [product.url for product in generate_catalog(600, seed=21)]

    assert whole == [product.url for product in generate_catalog(600, seed=21)]
    assert whole[250:260] == [product.url for product in iter_catalog(10, seed=21, start=250)]
    assert set(whole).isdisjoint(product.url for product in generate_catalog(600, seed=22))


@pytest.mark.parametrize(
    "sku",
    [
        "OUTD/7/000001",
        "Tent 2P #3 ?size=L&colour=red 100%",
        "東京/👟 №1",
        ".",
        "..",
        "a/../b",
        "~2F",
        "=HYPERLINK(1)",
    ],
)
def test_shop_url_makes_any_sku_one_safe_path_segment(sku: str) -> None:
    url = shop_url(sku)
    parts = urlsplit(url)

    assert url.startswith(SHOP_URL_PREFIX)
    assert (parts.scheme, parts.netloc, parts.query, parts.fragment) == ("https", "shop.example.com", "", "")
    assert re.fullmatch(r"[A-Za-z0-9%._~-]+", url.removeprefix(SHOP_URL_PREFIX))
    assert parts.path.count("/") == 2 and parts.path.removeprefix("/p/") not in (".", "..")
    assert unquote(url.removeprefix(SHOP_URL_PREFIX)) == sku.lower()


# ------------------------------------------------------------------------------ faithful copy


def test_reference_creatives_state_only_facts_of_their_product() -> None:
    for product in generate_catalog(5_000, seed=77):
        source = product_source_text(product)
        for text in _texts_of(product):
            assert CHECKER.violations(text, source, product.brand, product.noun) == [], text


def test_channel_creatives_state_only_facts_of_their_product() -> None:
    """Fewer products than for the generic creatives (the checker takes a millisecond a text); each
    phrasing of each channel and tone is still picked about a hundred times."""
    for product in generate_catalog(800, seed=76):
        source = product_source_text(product)
        for text in _texts_of(product, channels=CHANNELS[1:]):
            assert CHECKER.violations(text, source, product.brand, product.noun) == [], text


def test_most_creatives_name_the_brand_and_the_product() -> None:
    products = generate_catalog(2_000, seed=78)
    bodies = [(product, creative.body) for product in products for creative in product.creatives]

    with_brand = sum(product.brand in body for product, body in bodies)
    with_noun = sum(product.noun.casefold() in body.casefold() for product, body in bodies)
    assert with_brand / len(bodies) > 0.7
    assert with_noun / len(bodies) > 0.7


def test_the_checker_reports_invented_numbers_brands_and_products() -> None:
    product = generate_catalog(1, seed=7)[0]
    source = product_source_text(product)
    invented = next(number for number in range(11, 100) if str(number) not in source)
    other_brand = next(brand for brand in VOCABULARY.all_brands if brand.casefold() not in source.casefold())
    other_noun = next(noun for noun in VOCABULARY.all_nouns if noun.casefold() not in source.casefold())
    text = (
        f"Save {invented}% on the {product.brand} {product.noun}, with a free {other_noun} by {other_brand}."
    )

    assert CHECKER.violations(text, source, product.brand, product.noun) == [
        f"number {invented}",
        f"brand {other_brand}",
        f"noun {other_noun}",
    ]


def test_the_checker_accepts_the_products_own_numbers() -> None:
    product = generate_catalog(1, seed=7)[0]
    text = f"{product.brand.upper()} {product.spec} {product.noun}s, now ${product.price}!"

    assert CHECKER.violations(text, product_source_text(product), product.brand, product.noun) == []


def test_the_checker_matches_whole_phrases_longest_first() -> None:
    checker = FactChecker(["Acme", "Acme Pro", "Zenith"], ["knife", "chef's knife", "tent"])
    source = "Acme Pro 8-Inch Chef's Knife\nA sharp knife.\nAcme Pro\n$1,299.00"

    def check(text: str) -> list[str]:
        return checker.violations(text, source, "Acme Pro", "chef's knife")

    assert check("The Acme Pro chef's knife: an 8-inch knife for $1299") == []
    # "Acme" is a word of the own brand "Acme Pro": a shortened own brand, not another maker
    assert check("Acme tents and Zenith gear, 2 of them, 8.5 inches") == [
        "number 2",
        "number 8.5",
        "brand Zenith",
        "noun tent",
    ]
    assert check("Acmeish contents") == []


# ------------------------------------------------------------------------------ variety


def _shape(text: str, product: GeneratedProduct) -> str:
    """The text with the product's facts replaced by placeholders, i.e. the template it came from."""
    facts = {
        product.brand: "{brand}",
        product.noun: "{noun}",
        product.material: "{material}",
        product.spec: "{spec}",
        f"${product.price}": "{price}",
        **{feature: "{feature}" for feature in product.features},
    }
    shape = text.casefold()
    for fact in sorted(facts, key=len, reverse=True):
        shape = shape.replace(fact.casefold(), facts[fact])
    return shape


def test_every_tone_has_many_phrasings() -> None:
    products = generate_catalog(2_000, seed=99)

    for position, tone in enumerate(TONES):
        creatives = [(product, product.creatives[position]) for product in products]  # generic ones
        headlines = Counter(_shape(creative.headline, product) for product, creative in creatives)
        ctas = {creative.cta for _, creative in creatives}
        assert len(headlines) >= 8, (tone, headlines)
        assert len(ctas) >= 6, (tone, ctas)
        assert headlines.most_common(1)[0][1] < 0.2 * len(products), (tone, headlines.most_common(3))


# ------------------------------------------------------------------------------ channels

# Recorded from the generator before channels existed (seed 2024): adding the channel creatives must
# leave every draw, and so every generic creative, exactly as it was.
GENERIC_BEFORE_CHANNELS = {
    0: (
        "SPRT-7E8-000000",
        [
            (
                "bold",
                "36-Inch Foam Roller. No Compromises.",
                "Your gym sessions just got an upgrade: the Corevale foam roller with a 36-inch length.",
                "Get yours",
            ),
            (
                "luxury",
                "Quiet Elegance: The Corevale Foam Roller",
                "Discover a hollow core, rendered with care in the Corevale foam roller.",
                "Explore the details",
            ),
            (
                "value",
                "Real Value: 36-Inch Foam Roller, $51.99",
                "The Corevale foam roller offers a 36-inch length and a hollow core for just $51.99.",
                "Order now",
            ),
            (
                "playful",
                "Ready, Set, Foam Roller!",
                "Tiny confession: we can't stop talking about a 36-inch length and a hollow core.",
                "Let's go!",
            ),
        ],
    ),
    777: (
        "GARD-7E8-000777",
        [
            (
                "bold",
                "Power Up: Greenthumb Works 1-Gallon Watering Can",
                "Made from recycled plastic with a wide fill opening, the Greenthumb Works watering can is "
                "built to keep up.",
                "Claim yours",
            ),
            (
                "luxury",
                "Quiet Elegance: The Greenthumb Works Watering Can",
                "Elevate spring planting with the Greenthumb Works watering can, made from recycled plastic.",
                "Experience it",
            ),
            (
                "value",
                "Real Value: 1-Gallon Watering Can, $32.99",
                "Pay $32.99 and get the Greenthumb Works watering can with a wide fill opening.",
                "Order now",
            ),
            (
                "playful",
                "Say Hello to Your New Watering Can!",
                "Tiny confession: we can't stop talking about a 1-gallon capacity and a wide fill opening.",
                "Treat yourself",
            ),
        ],
    ),
}
GENERIC_BEFORE_CHANNELS_SHA256 = "6baad94d4d6307554bf08fc3de715a21911f907c2b0aa82758511c8692229635"
"""SHA-256 of the generic creatives of the first 3,000 products for seed 2024, before channels."""

GOOGLE_SEARCH, META_FEED = "google_search", "meta_feed"
CHANNEL_FIELDS = ("headline", "body", "cta")


def _of_channel(product: GeneratedProduct, channel: str) -> list:
    return [creative for creative in product.creatives if creative.channel == channel]


def _source(product: GeneratedProduct) -> str:
    """The product's input text as the model and the policy lint read it."""
    return formatting.source_text(as_record(product))


def test_the_generic_creatives_are_those_written_before_channels(catalog_10k: list[GeneratedProduct]) -> None:
    for index, (sku, creatives) in GENERIC_BEFORE_CHANNELS.items():
        product = catalog_10k[index]
        generic = [(c.tone, c.headline, c.body, c.cta) for c in _of_channel(product, "generic")]
        assert (product.sku, generic) == (sku, creatives)
    dump = repr(
        [
            (p.sku, [(c.tone, c.headline, c.body, c.cta) for c in _of_channel(p, "generic")])
            for p in catalog_10k[:3_000]
        ]
    )
    assert hashlib.sha256(dump.encode()).hexdigest() == GENERIC_BEFORE_CHANNELS_SHA256
    assert generator._DRAWS_PER_PRODUCT == 31


def test_the_channels_and_their_limits_are_those_of_training() -> None:
    assert list(CHANNELS) == list(training_channels.CHANNELS)
    assert {name: dict(limits) for name, limits in CHANNEL_OUTPUT_LIMITS.items()} == {
        name: channel.output_limits() for name, channel in training_channels.CHANNELS.items()
    }


@pytest.mark.parametrize(
    "text", ["Kettle, $49.99", "東京のケトル", "ＡＢＣ full width", "Café crème", "Tent 🏕️ time", "한국어", ""]
)
def test_channel_text_width_counts_as_the_platforms_do(text: str) -> None:
    for name, channel in training_channels.CHANNELS.items():
        assert channel_text_width(name, text) == channel.width(text)


def test_every_channel_creative_keeps_its_channels_limits(catalog_10k: list[GeneratedProduct]) -> None:
    """10,000 products cover every category, product line and brand."""
    assert {product.category for product in catalog_10k} == set(CATEGORIES)
    for product in catalog_10k:
        for creative in product.creatives:
            channel = training_channels.CHANNELS[creative.channel]
            limits = channel.output_limits()
            for field in CHANNEL_FIELDS:
                text = getattr(creative, field)
                assert text and text == text.strip(), (creative, field)
                assert limits[field] is None or channel.width(text) <= limits[field], (creative, field)
                assert channel.width(text) == len(text), text  # the generator counts len()


def test_the_last_fallback_of_every_field_fits_every_product_the_catalog_can_make() -> None:
    """Every brand, line, size, material, feature and use, at the longest price of the line: the
    fallbacks are what keep a limit, so none may ever need to be cut."""
    for category in generator._CATEGORY_TABLE:
        for line in category.lines:
            price = f"${line.price_high - 1}.99"
            for brand, spec, material, use in product_of(
                category.brands, line.specs, line.materials, category.uses
            ):
                for first, second in zip(line.features, line.features[1:] + line.features[:1], strict=True):
                    facts = generator._Facts(line, brand, spec, material, (first, second), price, use)
                    for templates in generator._CHANNEL_TEMPLATES:
                        for field in ("headline", "body", "cta"):
                            last = getattr(
                                templates, f"fallback_{field}s" if field != "body" else "fallback_bodies"
                            )
                            limit = getattr(templates, f"{field}_limit")
                            assert len(last[-1](facts)) <= limit, (
                                templates.channel,
                                templates.tone,
                                last[-1](facts),
                            )


def test_channel_phrasings_come_from_a_hash_of_sku_tone_and_channel_not_from_draws() -> None:
    """The draws per product did not change (`test_each_product_consumes_the_declared_number_of_draws`);
    the phrasing hash is the CRC-32 of "sku|tone|channel", extended from the sku's own CRC."""
    sku = "HOME-7E8-000042"
    for templates in generator._CHANNEL_TEMPLATES:
        expected = zlib.crc32(f"{sku}|{templates.tone}|{templates.channel}".encode())
        assert zlib.crc32(templates.key, zlib.crc32(sku.encode())) == expected
    first, second = generate_catalog(2, seed=3), generate_catalog(2, seed=3)
    assert [_of_channel(p, GOOGLE_SEARCH) for p in first] == [_of_channel(p, GOOGLE_SEARCH) for p in second]


def test_search_ad_headlines_are_distinct_across_the_catalog_and_within_a_product() -> None:
    """A responsive search ad takes its headlines from the headline and the cta of each tone: at least
    80 % of them differ across a 2,000-product catalog, and a product's eight never repeat (after
    normalising case and punctuation, as the platform does)."""
    products = generate_catalog(2_000, seed=78)
    headlines = [
        text for product in products for creative in _of_channel(product, GOOGLE_SEARCH)
        for text in (creative.headline, creative.cta)
    ]  # fmt: skip

    assert len(set(headlines)) / len(headlines) >= 0.8
    for product in products:
        own = [
            re.sub(r"\W+", " ", text.casefold()).strip()
            for creative in _of_channel(product, GOOGLE_SEARCH)
            for text in (creative.headline, creative.cta)
        ]
        assert len(set(own)) == 2 * len(TONES), own


def test_channel_headlines_name_the_product_and_search_ad_headlines_have_no_exclamation_mark() -> None:
    products = generate_catalog(2_000, seed=79)

    for channel, least in ((GOOGLE_SEARCH, 0.9), (META_FEED, 0.9)):
        pairs = [
            (product, creative.headline) for product in products for creative in _of_channel(product, channel)
        ]
        named = sum(p.brand in text or p.noun.casefold() in text.casefold() for p, text in pairs)
        assert named / len(pairs) >= least, channel
    for product in products:
        for creative in _of_channel(product, GOOGLE_SEARCH):
            assert "!" not in creative.headline + creative.cta, creative


def test_channel_creatives_pass_the_ad_policy_lint() -> None:
    for product in generate_catalog(2_000, seed=80):
        source = _source(product)
        for creative in product.creatives:
            fields = {field: getattr(creative, field) for field in CHANNEL_FIELDS}
            assert lint_creative(fields, source) == [], creative


def test_channel_creatives_vary_by_tone_and_field() -> None:
    products = generate_catalog(2_000, seed=81)

    for channel in (GOOGLE_SEARCH, META_FEED):
        for position, tone in enumerate(TONES):
            creatives = [(product, _of_channel(product, channel)[position]) for product in products]
            for field in CHANNEL_FIELDS:
                shapes = Counter(_shape(getattr(creative, field), product) for product, creative in creatives)
                assert len(shapes) >= 5, (channel, tone, field, shapes)
                assert shapes.most_common(1)[0][1] < 0.35 * len(products), (channel, tone, field)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Hello, Ergonomic Office Chair", 30, "Hello, Ergonomic Office Chair"),
        ("Discover the Ergonomic Office Chair", 30, "Discover the Ergonomic Office"),
        ("The Kettle with a gooseneck spout", 20, "The Kettle"),  # not "...with a"
        ("Acme Kettle, and more, $49.99", 20, "Acme Kettle"),  # not "Acme Kettle, and"
        ("Acme Kettle: a gooseneck spout", 14, "Acme Kettle"),  # no dangling colon
        ("Supercalifragilistic", 5, ""),  # a word is never cut
    ],
)
def test_words_within_drops_whole_words_and_never_ends_on_a_dangling_word(
    text: str, limit: int, expected: str
) -> None:
    assert words_within(text, limit) == expected
