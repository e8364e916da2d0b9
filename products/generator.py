"""Deterministic synthetic catalog: products and a reference creative per tone and channel.

The catalog is the training data of the marketing-copy model, so two properties matter more than
anything else. First, it must be reproducible: a dataset version is cut from a (count, seed) pair,
and re-running the pipeline must give the very same rows, whatever the process, the hash seed or
the chunk size used to stream them. Product k's random draws are a pure function of (seed, k), and
no set or dict order ever reaches the output. Second, every reference creative may state only
facts of its own product (brand, product noun, material, features, the numbers of its title,
description and price): the model learns to copy facts from its input, and an invented "20% off"
in the targets would teach it to invent. `training.ml.metrics.FactChecker` checks exactly that, for
these targets in the tests and for model outputs in evaluation, with the brands and nouns of
`VOCABULARY` (this module only names the vocabulary: `products` never imports `training`).

Each product has twelve reference creatives: one per tone in each channel (`CHANNELS`). The generic
ones are today's copy; those for an ad platform (`google_search`, `meta_feed`) keep its limits
(`CHANNEL_OUTPUT_LIMITS`) by construction and take their phrasings from a hash of (sku, tone,
channel), so adding them changed no draw and no generic creative.

This module imports no Django: the `generate_products` command, the pipeline and the benchmarks
all call it with plain arguments. It writes 100,000 products in about two seconds on one core, which
is why templates are f-string lambdas over a slotted facts object (several times faster than
`str.format_map`) and why a Mersenne Twister is seeded once per block of products, not per product.
"""

from __future__ import annotations

import random
import unicodedata
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from types import MappingProxyType
from typing import NamedTuple, TypeVar
from urllib.parse import quote

TONES: tuple[str, ...] = ("bold", "luxury", "value", "playful")

HEADLINE_MAX_CHARS = 70
BODY_MAX_CHARS = 220
CTA_MAX_CHARS = 24
SEED_LIMIT = 2**64
"""Seeds are 0 <= seed < 2**64, so the hex seed in a SKU has at most 16 digits."""
INDEX_LIMIT = 10**8
"""Indexes are below 10**8: at most 8 digits, so a SKU stays within 4 + 1 + 16 + 1 + 8 = 30 chars."""
SHOP_URL_PREFIX = "https://shop.example.com/p/"
"""Generated products live on an example shop (example.com is reserved for examples, RFC 2606)."""

CHANNELS: tuple[str, ...] = ("generic", "google_search", "meta_feed")
"""The ad channels a reference creative is written for: the names of `training.ml.channels.CHANNELS`."""
DEFAULT_CHANNEL = "generic"
# training.ml.channels' limits (`CHANNELS[name].output_limits()`): the most display columns each of the
# model's three outputs may take in a channel, None for no limit. `products` may not import `training`,
# so they are repeated here for the generator and the importer, and a test keeps the two equal.
CHANNEL_OUTPUT_LIMITS: MappingProxyType[str, MappingProxyType[str, int | None]] = MappingProxyType(
    {
        "generic": MappingProxyType({"headline": 300, "body": None, "cta": 120}),
        "google_search": MappingProxyType({"headline": 30, "body": 90, "cta": 30}),
        "meta_feed": MappingProxyType({"headline": 40, "body": 125, "cta": 30}),
    }
)
# training.ml.channels' `Channel.wide_characters_count_double`: the ad platforms count a Wide or
# Fullwidth character (Chinese, Japanese, Korean) as two columns; `generic` counts plain characters.
_CHANNELS_COUNTING_WIDE_DOUBLE = frozenset({"google_search", "meta_feed"})
_DOUBLE_WIDTH = frozenset({"W", "F"})


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


class GeneratedCreative(NamedTuple):
    """The reference copy for one product in one tone for one channel: what the model is trained to
    write. In a channel other than `generic`, headline, body and cta are the channel's fields
    (`training.ml.channels.Channel.outputs`) and keep its limits (`CHANNEL_OUTPUT_LIMITS`).

    A named tuple rather than a frozen dataclass (immutable either way): a catalog of 100,000
    products holds 1.2 million of them, and a tuple is built in a third of the time.
    """

    tone: str
    headline: str
    body: str
    cta: str
    channel: str = DEFAULT_CHANNEL


@dataclass(frozen=True, slots=True)
class GeneratedProduct:
    """One synthetic product with its facts kept apart, so copy can be checked against them."""

    sku: str
    title: str
    category: str
    brand: str
    description: str
    price: Decimal
    rating: Decimal
    url: str
    creatives: tuple[GeneratedCreative, ...]
    noun: str
    material: str
    spec: str
    features: tuple[str, ...]

    def as_record(self) -> dict[str, object]:
        """The JSON-friendly catalog fields the API and the importer exchange."""
        return {
            "sku": self.sku,
            "title": self.title,
            "category": self.category,
            "brand": self.brand,
            "description": self.description,
            "price": str(self.price),
            "rating": float(self.rating),
            "url": self.url,
        }


def as_record(product: GeneratedProduct) -> dict[str, object]:
    """Function form of `GeneratedProduct.as_record`, handy for `map()`."""
    return product.as_record()


def shop_url(sku: str) -> str:
    """The product page of `sku` on the example shop: one path segment, lower case, percent-encoded,
    so any SKU (`/`, spaces, `#`, `?`, Unicode) gives a valid URL; generated SKUs (upper-case letters,
    digits and dashes) map one-to-one to theirs. A bare `.` or `..` segment would be dropped by
    clients, so its dots are encoded too."""
    slug = quote(sku.lower(), safe="")
    return SHOP_URL_PREFIX + (slug.replace(".", "%2E") if slug in (".", "..") else slug)


def channel_text_width(channel: str, text: str) -> int:
    """`text`'s width as `channel` counts it against its limits (`training.ml.channels.Channel.width`)."""
    if channel not in _CHANNELS_COUNTING_WIDE_DOUBLE or text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(character) in _DOUBLE_WIDTH else 1 for character in text)


def product_source_text(product: GeneratedProduct) -> str:
    """Everything a creative may quote: title, description, brand and the price as copy shows it."""
    return f"{product.title}\n{product.description}\n{product.brand}\n${product.price}"


# --------------------------------------------------------------------------------------------
# Catalog vocabulary, prepared once at import
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Spec:
    """A product line's size or capacity number, in title form ("2-Person") and prose form."""

    title: str
    prose: str
    prose_cap: str


@dataclass(frozen=True, slots=True)
class _Phrase:
    """A material or feature phrase with the cased variants templates need."""

    text: str
    cap: str
    title: str


@dataclass(frozen=True, slots=True)
class _ProductLine:
    """A kind of product in a category: its noun, the words that agree with it, and its options.

    `this`, `be`, `it` and `s` (a verb ending) let one template serve both "the tent is" and
    "the wireless earbuds are".
    """

    noun: str
    noun_title: str
    made_of: str
    made_of_cap: str
    this: str
    this_cap: str
    be: str
    it: str
    s: str
    price_low: int
    price_high: int
    specs: tuple[_Spec, ...]
    materials: tuple[_Phrase, ...]
    features: tuple[_Phrase, ...]


@dataclass(frozen=True, slots=True)
class _Category:
    name: str
    code: str
    price_low: int
    price_high: int
    brands: tuple[str, ...]
    uses: tuple[str, ...]
    warranty_years: tuple[int, ...]
    lines: tuple[_ProductLine, ...]


def _capitalize_first(text: str) -> str:
    return text[:1].upper() + text[1:]


_TITLE_SMALL_WORDS = frozenset({"a", "an", "and", "for", "in", "of", "or", "the", "to", "with"})


def _title_case(text: str) -> str:
    """Title-case word by word without `str.title()`, which writes "Chef'S" and "Usb-C"."""
    words = []
    for position, word in enumerate(text.split(" ")):
        if position and word in _TITLE_SMALL_WORDS:
            words.append(word)
            continue
        parts = [part if part[:1].isupper() else _capitalize_first(part) for part in word.split("-")]
        words.append("-".join(parts))
    return " ".join(words)


def _without_article(text: str) -> str:
    for article in ("a ", "an "):
        if text.startswith(article):
            return text[len(article) :]
    return text


def _indefinite_article(number: str) -> str:
    """The article follows the spoken number: a 6-inch, an 8-inch, an 18-inch."""
    return "an" if number.startswith("8") or number in ("11", "18") else "a"


def _phrase(text: str) -> _Phrase:
    return _Phrase(text, _capitalize_first(text), _title_case(_without_article(text)))


def _spec(value: str, title_template: str, prose_template: str) -> _Spec:
    prose = prose_template.format(v=value, a=_indefinite_article(value))
    return _Spec(title_template.format(v=value), prose, _capitalize_first(prose))


def _line(
    noun: str,
    price: tuple[int, int],
    spec_values: tuple[str, ...],
    spec_title: str,
    spec_prose: str,
    materials: tuple[str, ...],
    features: tuple[str, ...],
    *,
    plural: bool = False,
    made_of: str = "",
) -> _ProductLine:
    """`made_of` overrides the category's verb ("formulated with" suits serum, not a hair dryer)."""
    return _ProductLine(
        noun=noun,
        noun_title=_title_case(noun),
        made_of=made_of,
        made_of_cap=_capitalize_first(made_of),
        this="these" if plural else "this",
        this_cap="These" if plural else "This",
        be="are" if plural else "is",
        it="them" if plural else "it",
        s="" if plural else "s",
        price_low=price[0],
        price_high=price[1],
        specs=tuple(_spec(value, spec_title, spec_prose) for value in spec_values),
        materials=tuple(_phrase(material) for material in materials),
        features=tuple(_phrase(feature) for feature in features),
    )


def _category(
    name: str,
    code: str,
    price: tuple[int, int],
    made_of: str,
    brands: tuple[str, ...],
    uses: tuple[str, ...],
    warranty_years: tuple[int, ...],
    lines: tuple[_ProductLine, ...],
) -> _Category:
    for line in lines:
        if not price[0] <= line.price_low < line.price_high <= price[1]:
            raise ValueError(f"{name}: the price band of {line.noun!r} leaves the category range {price}")
    lines = tuple(
        line if line.made_of else replace(line, made_of=made_of, made_of_cap=_capitalize_first(made_of))
        for line in lines
    )
    return _Category(name, code, price[0], price[1], brands, uses, warranty_years, lines)


_CATEGORY_TABLE: tuple[_Category, ...] = (
    _category(
        "Electronics", "ELEC", (15, 499), "built from",
        ("Voltaic", "Lumora Audio", "Brightwave", "Nexon Labs", "Pulsefield", "Arcline Tech"),
        ("daily commutes", "work-from-home days", "travel days", "weekend movie nights"),
        (1, 2),
        (
            _line("wireless earbuds", (29, 249), ("24", "30", "36", "40"), "{v}-Hour",
                  "up to {v} hours of playtime",
                  ("matte polycarbonate", "soft-touch silicone", "brushed aluminum"),
                  ("active noise cancelling", "Bluetooth 5.3 connectivity", "a pocket-size charging case",
                   "IPX5 sweat resistance", "touch controls"), plural=True),
            _line("portable speaker", (25, 199), ("10", "20", "30"), "{v}W", "{v} watts of output",
                  ("recycled fabric", "rubberized ABS", "anodized aluminum"),
                  ("IP67 waterproofing", "stereo pairing", "a built-in carry strap", "USB-C charging")),
            _line("smart watch", (99, 449), ("40", "44", "46"), "{v}mm", "{a} {v}mm display",
                  ("aluminum", "stainless steel", "titanium"),
                  ("heart-rate tracking", "built-in GPS", "sleep tracking", "an always-on display")),
            _line("USB-C charger", (15, 79), ("30", "65", "100"), "{v}W", "{v}W of charging power",
                  ("flame-retardant polycarbonate", "matte PC-ABS"),
                  ("two USB-C ports", "foldable prongs", "overheat protection", "universal laptop support")),
            _line("mechanical keyboard", (49, 229), ("60", "65", "75"), "{v}%", "a compact {v}% layout",
                  ("aluminum", "ABS", "polycarbonate"),
                  ("hot-swappable switches", "RGB backlighting", "a detachable USB-C cable",
                   "tri-mode wireless")),
            _line("webcam", (29, 199), ("1080", "1440", "2160"), "{v}p", "{v}p video",
                  ("matte ABS", "aluminum"),
                  ("dual noise-reducing mics", "auto light correction", "a privacy shutter",
                   "a universal monitor clip")),
        ),
    ),
    _category(
        "Home & Kitchen", "HOME", (8, 599), "made from",
        ("Copper Hearth", "Maple & Mortar", "Kitchen Theory", "Hearthline", "Saltbox Home", "Olive Row"),
        ("weeknight dinners", "weekend meal prep", "holiday hosting", "everyday cooking"),
        (1, 2, 5),
        (
            _line("chef's knife", (25, 189), ("6", "8", "10"), "{v}-Inch", "{a} {v}-inch blade",
                  ("German stainless steel", "Damascus steel", "high-carbon steel"),
                  ("a full-tang handle", "a hand-sharpened edge", "a riveted pakkawood handle",
                   "a protective blade guard")),
            _line("cast iron skillet", (19, 129), ("8", "10", "12"), "{v}-Inch",
                  "{a} {v}-inch cooking surface",
                  ("pre-seasoned cast iron", "enameled cast iron", "smooth-milled cast iron"),
                  ("a helper handle", "dual pour spouts", "oven-safe construction",
                   "induction compatibility")),
            _line("electric kettle", (29, 149), ("1.2", "1.5", "1.7"), "{v}-Liter", "{a} {v}-liter capacity",
                  ("brushed stainless steel", "borosilicate glass", "matte stainless steel"),
                  ("variable temperature control", "a keep-warm setting", "auto shut-off",
                   "a gooseneck spout")),
            _line("cutting board", (15, 89), ("12", "16", "18"), "{v}-Inch", "{a} {v}-inch work surface",
                  ("acacia wood", "end-grain walnut", "bamboo"),
                  ("a deep juice groove", "non-slip feet", "reversible sides", "built-in handles")),
            _line("stand mixer", (149, 549), ("4.5", "5", "6"), "{v}-Quart", "{a} {v}-quart bowl",
                  ("die-cast zinc", "stainless steel"),
                  ("ten speed settings", "a tilt-head design", "a dough hook and flat beater",
                   "a pouring shield")),
            _line("French press", (19, 69), ("12", "34", "51"), "{v}-Ounce", "{a} {v}-ounce carafe",
                  ("borosilicate glass", "double-wall stainless steel"),
                  ("a four-level filtration system", "a cool-touch handle", "a heat-locking lid",
                   "a drip-free spout")),
        ),
    ),
    _category(
        "Outdoor", "OUTD", (12, 699), "made from",
        ("Northwind Trail", "Summit Forge", "Ridgeback Gear", "Alder Creek", "Cairnline",
         "Pinecrest Outfitters"),
        ("weekend camping trips", "backcountry hikes", "car camping", "early summit starts"),
        (1, 2),
        (
            _line("tent", (89, 599), ("2", "3", "4", "6"), "{v}-Person", "room for {v} people",
                  ("ripstop nylon", "polyester taffeta", "silnylon"),
                  ("color-coded poles", "two vestibules", "a full-coverage rainfly", "mesh storage pockets")),
            _line("sleeping bag", (49, 349), ("20", "30", "40"), "{v}°F", "a {v}°F comfort rating",
                  ("water-resistant down", "synthetic insulation", "recycled polyester"),
                  ("a draft collar", "a two-way zipper", "a compression sack", "a contoured hood")),
            _line("hiking backpack", (59, 279), ("30", "45", "65"), "{v}L", "{v} liters of storage",
                  ("ripstop nylon", "Cordura nylon", "recycled polyester"),
                  ("an adjustable hip belt", "a hydration sleeve", "a ventilated back panel",
                   "an integrated rain cover")),
            _line("headlamp", (15, 79), ("300", "450", "600"), "{v}-Lumen", "{v} lumens of light",
                  ("aluminum", "impact-resistant polycarbonate"),
                  ("a red night-vision mode", "USB-C charging", "IPX4 water resistance", "a tilting beam")),
            _line("camping stove", (39, 199), ("1", "2", "3"), "{v}-Burner", "a {v}-burner cooktop",
                  ("stainless steel", "powder-coated steel"),
                  ("push-button ignition", "wind-blocking side panels", "adjustable flame control",
                   "a fold-flat design")),
            _line("trekking poles", (29, 179), ("115", "125", "135"), "{v}cm",
                  "an adjustable length of up to {v} cm",
                  ("carbon fiber", "7075 aluminum", "aluminum"),
                  ("cork grips", "quick-lock adjusters", "carbide tips", "padded wrist straps"), plural=True),
        ),
    ),
    _category(
        "Beauty", "BEAU", (6, 349), "formulated with",
        ("Lumiere Botanics", "Petal & Pine", "Glow Theory", "Velvet Fern", "Aura Rose", "Clearwater Skin"),
        ("morning routines", "evening self-care", "busy mornings", "weekend pampering"),
        (),
        (
            _line("face serum", (14, 89), ("15", "30", "50"), "{v} ml", "a {v} ml bottle",
                  ("hyaluronic acid", "vitamin C", "niacinamide"),
                  ("a lightweight texture", "a fragrance-free formula", "a glass dropper",
                   "a vegan formula")),
            _line("sunscreen lotion", (8, 39), ("30", "50"), "SPF {v}", "SPF {v} protection",
                  ("zinc oxide", "aloe vera", "green tea extract"),
                  ("a non-greasy finish", "a reef-friendly formula", "a water-resistant formula",
                   "a pocket-size tube")),
            _line("hair dryer", (39, 329), ("1600", "1875"), "{v}W", "{v} watts of drying power",
                  ("ceramic", "tourmaline ceramic"),
                  ("three heat settings", "a cool-shot button", "a concentrator nozzle",
                   "ionic frizz control"),
                  made_of="built with"),
            _line("makeup brush set", (12, 69), ("8", "12", "15"), "{v}-Piece", "{v} brushes",
                  ("synthetic taklon", "soft synthetic fibers"),
                  ("a travel pouch", "wooden handles", "a cleaning pad",
                   "tapered tips"), made_of="made from"),
            _line("lip balm", (6, 19), ("2", "4"), "{v}-Pack", "a pack of {v}",
                  ("shea butter", "beeswax", "coconut oil"),
                  ("a tinted finish", "SPF 15 protection", "a fragrance-free formula", "a twist-up tube")),
            _line("face moisturizer", (12, 79), ("50", "75"), "{v} ml", "a {v} ml jar",
                  ("ceramides", "squalane", "shea butter"),
                  ("a non-greasy finish", "a fragrance-free formula", "a lightweight gel texture",
                   "a recyclable jar")),
        ),
    ),
    _category(
        "Fashion", "FASH", (12, 499), "made from",
        ("Harbor & Thread", "Meridian Row", "Stitchwell", "Foxglove Lane", "Cobalt Atelier", "Linden Supply"),
        ("weekend outings", "office days", "city travel", "everyday wear"),
        (),
        (
            _line("denim jacket", (49, 189), ("4", "5", "6"), "{v}-Pocket", "{v} pockets",
                  ("rigid denim", "organic cotton denim", "stretch denim"),
                  ("a button front", "a relaxed fit", "adjustable waist tabs", "a corduroy collar")),
            _line("tote bag", (29, 299), ("15", "20", "24"), "{v}L", "{v} liters of space",
                  ("full-grain leather", "waxed canvas", "recycled nylon"),
                  ("an interior zip pocket", "a magnetic closure", "reinforced handles",
                   "a detachable strap")),
            _line("crewneck sweater", (39, 249), ("7", "12", "14"), "{v}-Gauge", "{a} {v}-gauge knit",
                  ("merino wool", "lambswool", "organic cotton"),
                  ("ribbed cuffs", "a relaxed fit", "pill-resistant yarn", "reinforced seams")),
            _line("Chelsea boots", (89, 349), ("6", "7"), "{v}-Inch", "{a} {v}-inch shaft",
                  ("suede", "full-grain leather", "waxed leather"),
                  ("elastic side panels", "a cushioned footbed", "a rubber lug sole", "pull-on loops"),
                  plural=True),
            _line("sunglasses", (25, 199), ("50", "52", "55"), "{v}mm", "{v}mm lenses",
                  ("acetate", "titanium", "stainless steel"),
                  ("polarized lenses", "UV400 protection", "spring hinges", "a hard carrying case"),
                  plural=True),
            _line("analog watch", (79, 499), ("38", "40", "42"), "{v}mm", "a {v}mm case",
                  ("stainless steel", "brushed titanium"),
                  ("sapphire crystal glass", "a leather strap", "50m water resistance", "a date window")),
        ),
    ),
    _category(
        "Sports & Fitness", "SPRT", (8, 999), "made from",
        ("Ironpeak", "Stridewell", "Apex Motion", "Corevale", "Tempo Athletics", "Redline Sport"),
        ("home workouts", "gym sessions", "race training", "recovery days"),
        (1, 2),
        (
            _line("yoga mat", (19, 129), ("4", "6", "8"), "{v}mm", "{v}mm of cushioning",
                  ("natural rubber", "TPE foam", "cork"),
                  ("a non-slip texture", "alignment lines", "a carrying strap",
                   "a moisture-resistant surface")),
            _line("adjustable dumbbells", (99, 449), ("25", "40", "50"), "{v}-Pound",
                  "a maximum of {v} pounds each",
                  ("powder-coated steel", "cast iron"),
                  ("a quick-select dial", "a compact storage tray", "ergonomic grips", "a rubberized finish"),
                  plural=True),
            _line("running shoes", (69, 199), ("6", "8", "10"), "{v}mm-Drop", "{a} {v}mm heel-to-toe drop",
                  ("engineered mesh", "recycled knit"),
                  ("a responsive foam midsole", "reflective details", "a padded collar",
                   "a durable rubber outsole"), plural=True),
            _line("resistance bands", (12, 49), ("3", "5"), "{v}-Piece", "a set of {v} bands",
                  ("natural latex", "fabric-covered latex"),
                  ("a door anchor", "cushioned handles", "a travel pouch", "color-coded resistance levels"),
                  plural=True),
            _line("foam roller", (14, 59), ("12", "18", "36"), "{v}-Inch", "{a} {v}-inch length",
                  ("high-density EVA foam", "EPP foam"),
                  ("a textured surface", "a hollow core", "a lightweight build", "a firm density")),
            _line("exercise bike", (299, 999), ("16", "32"), "{v}-Level", "{v} resistance levels",
                  ("steel", "powder-coated steel"),
                  ("a belt drive", "an LCD console", "an adjustable seat", "transport wheels")),
        ),
    ),
    _category(
        "Toys & Games", "TOYS", (7, 249), "made from",
        ("Pip & Pogo", "Brightblock", "Wondertree", "Kitebird", "Marble Moon", "Tumbletown"),
        ("family game nights", "rainy afternoons", "screen-free play", "playdates"),
        (),
        (
            _line("building block set", (19, 149), ("250", "500", "1000"), "{v}-Piece", "{v} pieces",
                  ("BPA-free plastic", "recycled ABS"),
                  ("a storage bin", "printed instructions", "two base plates", "glow-in-the-dark pieces")),
            _line("jigsaw puzzle", (12, 39), ("500", "1000"), "{v}-Piece", "{v} pieces",
                  ("recycled cardboard", "thick blue-board"),
                  ("a full-size poster", "a matte finish", "precision-cut pieces", "a sturdy box")),
            _line("board game", (19, 69), ("4", "6"), "{v}-Player", "room for up to {v} players",
                  ("heavy cardstock", "sustainably sourced wood"),
                  ("a quick-start guide", "a double-sided board", "custom wooden tokens",
                   "a cooperative mode")),
            _line("remote control car", (29, 149), ("15", "20", "25"), "{v} MPH", "top speeds of {v} mph",
                  ("impact-resistant plastic", "ABS"),
                  ("a rechargeable battery", "all-terrain tires", "a 2.4 GHz remote", "LED headlights")),
            _line("plush toy", (9, 49), ("8", "12", "16"), "{v}-Inch", "a cuddly {v}-inch size",
                  ("soft polyester plush", "organic cotton"),
                  ("embroidered eyes", "a machine-washable body", "a weighted base", "a gift-ready tag")),
            _line("art kit", (15, 79), ("60", "100", "150"), "{v}-Piece", "{v} pieces",
                  ("beechwood", "recycled cardboard"),
                  ("a wooden carry case", "colored pencils and crayons", "a drawing pad",
                   "washable markers")),
        ),
    ),
    _category(
        "Pet Supplies", "PETS", (5, 299), "made from",
        ("Pawsome Co", "Whisker & Wag", "Tailwind Pets", "Barkley Bay", "Kindred Paws", "Scout & Sable"),
        ("daily routines", "everyday pet care", "lazy weekends", "new-pet homecomings"),
        (1,),
        (
            _line("dog bed", (29, 199), ("24", "30", "36", "42"), "{v}-Inch", "a {v}-inch sleeping area",
                  ("memory foam", "orthopedic foam", "sherpa fleece"),
                  ("a removable washable cover", "a non-skid bottom", "raised bolsters",
                   "a waterproof liner")),
            _line("cat tree", (49, 249), ("36", "52", "68"), "{v}-Inch", "a height of {v} inches",
                  ("sisal rope", "engineered wood"),
                  ("sisal scratching posts", "a cozy condo", "a padded perch", "dangling toys")),
            _line("dog leash", (12, 49), ("4", "6"), "{v}-Foot", "a {v}-foot length",
                  ("braided nylon", "biothane", "full-grain leather"),
                  ("a padded handle", "reflective stitching", "a traffic handle", "a locking carabiner")),
            _line("pet water fountain", (25, 79), ("1.5", "2.5"), "{v}-Liter", "a {v}-liter reservoir",
                  ("stainless steel", "ceramic", "BPA-free plastic"),
                  ("a quiet pump", "a triple filtration system", "a water level window",
                   "an LED night light")),
            _line("cat litter box", (19, 89), ("20", "24"), "{v}-Inch", "a {v}-inch base",
                  ("recycled plastic", "BPA-free plastic"),
                  ("a high-sided design", "a carbon filter", "a swinging door", "a litter scoop")),
            _line("chew toys", (7, 29), ("2", "3"), "{v}-Pack", "a pack of {v}",
                  ("natural rubber", "nylon"),
                  ("a treat-dispensing chamber", "a textured surface", "a floating design", "a mint scent"),
                  plural=True),
        ),
    ),
    _category(
        "Office", "OFFC", (3, 899), "made from",
        ("Inkwell & Co", "Deskcraft", "Paperlane", "Quill Theory", "Workwise", "Ledgerline"),
        ("hybrid workdays", "study sessions", "deep-focus afternoons", "busy work weeks"),
        (1, 2, 5),
        (
            _line("ergonomic office chair", (149, 799), ("120", "135"), "{v}-Degree Recline",
                  "up to {v} degrees of recline",
                  ("breathable mesh", "molded foam", "recycled fabric"),
                  ("adjustable lumbar support", "3D armrests", "a tilt lock", "a padded headrest")),
            _line("standing desk", (249, 899), ("48", "55", "63"), "{v}-Inch", "a {v}-inch desktop",
                  ("bamboo", "laminated particleboard", "solid oak"),
                  ("dual motors", "memory presets", "an anti-collision sensor", "a cable management tray")),
            _line("desk lamp", (25, 119), ("8", "10", "12"), "{v}W LED", "{v} watts of LED light",
                  ("aluminum", "matte steel"),
                  ("a wireless charging base", "five color temperatures", "a touch dimmer",
                   "a flexible gooseneck")),
            _line("dotted notebook", (9, 32), ("120", "160", "192"), "{v}-Page", "{v} pages",
                  ("acid-free paper", "recycled paper"),
                  ("a lay-flat binding", "numbered pages", "an elastic closure", "a back pocket")),
            _line("gel pens", (5, 24), ("12", "24", "36"), "{v}-Pack", "a pack of {v}",
                  ("recycled plastic", "matte resin"),
                  ("quick-dry ink", "soft-touch grips", "retractable tips", "a 0.7mm point"), plural=True),
            _line("monitor stand", (19, 99), ("20", "24", "28"), "{v}-Inch", "a {v}-inch platform",
                  ("walnut veneer", "bamboo", "steel"),
                  ("a storage drawer", "a keyboard slot", "non-slip pads", "a phone slot")),
        ),
    ),
    _category(
        "Garden", "GARD", (5, 499), "made from",
        ("Fernhollow", "Greenthumb Works", "Bramble & Bloom", "Rootstock Supply", "Willow Gate",
         "Sprout Lane"),
        ("spring planting", "balcony gardens", "backyard projects", "weekend yard work"),
        (1, 2, 3),
        (
            _line("garden hose", (24, 129), ("25", "50", "100"), "{v}-Foot", "a {v}-foot length",
                  ("lightweight polyurethane", "reinforced rubber"),
                  ("kink-resistant construction", "brass fittings", "a spray nozzle", "a storage reel")),
            _line("raised garden bed", (59, 399), ("4", "6", "8"), "{v}-Foot", "{a} {v}-foot growing area",
                  ("cedar", "galvanized steel"),
                  ("an open-bottom design", "corner stakes", "tool-free assembly",
                   "a weather-resistant finish")),
            _line("pruning shears", (15, 59), ("7", "8"), "{v}-Inch", "{a} {v}-inch frame",
                  ("high-carbon steel", "SK5 steel", "forged aluminum"),
                  ("a safety lock", "non-slip grips", "a sap groove", "bypass blades"), plural=True),
            _line("watering can", (14, 59), ("1", "2"), "{v}-Gallon", "a {v}-gallon capacity",
                  ("galvanized steel", "recycled plastic", "powder-coated steel"),
                  ("a long spout", "a removable rose head", "a balanced handle", "a wide fill opening")),
            _line("compost bin", (49, 249), ("50", "80", "100"), "{v}-Gallon", "{a} {v}-gallon capacity",
                  ("recycled plastic", "UV-resistant polypropylene"),
                  ("a dual-chamber design", "a tumbling drum", "ventilation holes", "a locking lid")),
            _line("bird feeder", (15, 79), ("4", "6"), "{v}-Port", "{v} feeding ports",
                  ("powder-coated steel", "cedar", "polycarbonate"),
                  ("a squirrel-proof cage", "a weatherproof roof", "an easy-fill lid", "a hanging hook")),
        ),
    ),
    _category(
        "Automotive", "AUTO", (9, 399), "built from",
        ("Roadmark", "Torque & Tread", "Gearshift Co", "Mileway", "Highline Auto", "Ironroad"),
        ("road trips", "daily commutes", "long highway drives", "weekend errands"),
        (1, 2),
        (
            _line("dash cam", (49, 249), ("1080", "1440", "2160"), "{v}p", "{v}p recording",
                  ("heat-resistant ABS", "aluminum alloy"),
                  ("night vision", "loop recording", "a G-sensor", "a suction mount")),
            _line("car phone mount", (12, 49), ("360",), "{v}-Degree", "{v}-degree rotation",
                  ("aluminum alloy", "silicone"),
                  ("a one-touch release", "a vent clip", "a telescopic arm", "a magnetic grip")),
            _line("tire inflator", (29, 119), ("100", "150"), "{v} PSI", "up to {v} PSI",
                  ("ABS", "aluminum alloy"),
                  ("auto shut-off", "a digital gauge", "an LED work light", "a carrying bag")),
            _line("jump starter", (59, 229), ("1000", "2000"), "{v}A", "{v} peak amps",
                  ("polycarbonate", "rubberized ABS"),
                  ("USB-C charging", "reverse-polarity protection", "heavy-duty clamps",
                   "a built-in flashlight")),
            _line("seat cushion", (19, 69), ("2", "3"), "{v}-Inch", "{v} inches of cushioning",
                  ("memory foam", "gel-infused foam"),
                  ("a non-slip bottom", "a breathable cover", "a carry handle", "a removable cover")),
            _line("microfiber towels", (9, 39), ("6", "12", "24"), "{v}-Pack", "a pack of {v}",
                  ("plush microfiber", "edgeless microfiber"),
                  ("a lint-free weave", "a scratch-free finish", "machine-washable fabric",
                   "quick-dry fibers"),
                  plural=True),
        ),
    ),
)  # fmt: skip

CATEGORIES: tuple[str, ...] = tuple(category.name for category in _CATEGORY_TABLE)
CATEGORY_PRICE_RANGES: MappingProxyType[str, tuple[Decimal, Decimal]] = MappingProxyType(
    {
        category.name: (Decimal(category.price_low), Decimal(category.price_high))
        for category in _CATEGORY_TABLE
    }
)

_PRICE_CENTS = ("99", "99", "99", "99", "49", "49", "95", "00")
_RATINGS = tuple(Decimal(f"{tenths // 10}.{tenths % 10}") for tenths in range(10, 51))  # 1.0 .. 5.0
_TYPICAL_RATINGS = _RATINGS[25:40]  # 3.5 .. 4.9
_TYPICAL_RATING_SHARE = 0.85
_WARRANTY_SHARE = 0.35


# --------------------------------------------------------------------------------------------
# Text templates: f-string lambdas over `_Facts`. No template holds a digit, a brand or a product
# noun of its own; every fact comes from the product, which is what keeps the fact checker at
# zero for every reference creative.
# --------------------------------------------------------------------------------------------


class _Facts:
    """What copy may say about one product, flattened so templates read plain attributes."""

    __slots__ = (
        "brand", "noun", "noun_title", "this", "this_cap", "be", "it", "s", "spec", "spec_prose",
        "spec_prose_cap", "material", "material_title", "made_of", "made_of_cap", "feature",
        "feature_cap", "feature_title", "feature2", "price", "use",
    )  # fmt: skip

    def __init__(
        self,
        line: _ProductLine,
        brand: str,
        spec: _Spec,
        material: _Phrase,
        features: tuple[_Phrase, _Phrase],
        price: str,
        use: str,
    ) -> None:
        self.brand = brand
        self.noun = line.noun
        self.noun_title = line.noun_title
        self.this = line.this
        self.this_cap = line.this_cap
        self.be = line.be
        self.it = line.it
        self.s = line.s
        self.spec = spec.title
        self.spec_prose = spec.prose
        self.spec_prose_cap = spec.prose_cap
        self.material = material.text
        self.material_title = material.title
        self.made_of = line.made_of
        self.made_of_cap = line.made_of_cap
        self.feature = features[0].text
        self.feature_cap = features[0].cap
        self.feature_title = features[0].title
        self.feature2 = features[1].text
        self.price = price
        self.use = use


_Template = Callable[[_Facts], str]

_TITLES: tuple[_Template, ...] = (
    lambda f: f"{f.brand} {f.spec} {f.noun_title}, {f.material_title}",
    lambda f: f"{f.brand} {f.noun_title}, {f.spec}, {f.material_title}",
    lambda f: f"{f.brand} {f.material_title} {f.noun_title} ({f.spec})",
    lambda f: f"{f.brand} {f.spec} {f.noun_title} with {f.feature_title}",
    lambda f: f"{f.spec} {f.noun_title} by {f.brand}, {f.material_title}",
    lambda f: f"{f.brand} {f.noun_title} with {f.feature_title} - {f.spec}",
)
_OPENING_SENTENCES: tuple[_Template, ...] = (
    lambda f: f"The {f.brand} {f.noun} {f.be} {f.made_of} {f.material}, with {f.spec_prose}.",
    lambda f: f"Built around {f.spec_prose}, the {f.brand} {f.noun} {f.be} {f.made_of} {f.material}.",
    lambda f: f"{f.made_of_cap} {f.material}, the {f.brand} {f.noun} deliver{f.s} {f.spec_prose}.",
    lambda f: f"{f.brand} pairs {f.material} with {f.spec_prose} in {f.this} {f.noun}.",
)
_FEATURE_SENTENCES: tuple[_Template, ...] = (
    lambda f: f"Highlights include {f.feature} and {f.feature2}.",
    lambda f: f"You also get {f.feature} and {f.feature2}.",
    lambda f: f"Thoughtful details include {f.feature} plus {f.feature2}.",
    lambda f: f"{f.feature_cap} and {f.feature2} complete the package.",
)
_USE_SENTENCES: tuple[_Template, ...] = (
    lambda f: f"Ideal for {f.use}.",
    lambda f: f"A smart pick for {f.use}.",
    lambda f: f"Made for {f.use}.",
    lambda f: f"Great for {f.use}.",
)
_WARRANTY_SENTENCES: tuple[Callable[[int], str], ...] = (
    lambda years: f"Backed by a {years}-year warranty.",
    lambda years: f"Covered by a {years}-year limited warranty.",
)


@dataclass(frozen=True, slots=True)
class _ToneTemplates:
    """One tone's phrasings. The fallbacks fit any product; they stand in when a pick runs long."""

    tone: str
    headlines: tuple[_Template, ...]
    bodies: tuple[_Template, ...]
    ctas: tuple[str, ...]
    fallback_headline: _Template
    fallback_body: _Template


_BOLD = _ToneTemplates(
    tone="bold",
    headlines=(
        lambda f: f"Meet the {f.brand} {f.noun_title}",
        lambda f: f"{f.spec} {f.noun_title}. No Compromises.",
        lambda f: f"Go Bigger with the {f.brand} {f.noun_title}",
        lambda f: f"{f.brand}: The {f.noun_title} That Mean{f.s} Business",
        lambda f: f"{f.brand} {f.spec} {f.noun_title}, Ready When You Are",
        lambda f: f"Own Your Day with the {f.brand} {f.noun_title}",
        lambda f: f"Power Up: {f.brand} {f.spec} {f.noun_title}",
        lambda f: f"Step Up to the {f.brand} {f.noun_title}",
        lambda f: f"Zero Hesitation. {f.brand} {f.noun_title}.",
        lambda f: f"{f.noun_title}, Done Right by {f.brand}",
    ),
    bodies=(
        lambda f: f"The {f.brand} {f.noun} bring{f.s} {f.spec_prose} and {f.feature}. Grab {f.it} and go.",
        lambda f: (
            f"{f.made_of_cap} {f.material} with {f.feature}, the {f.brand} {f.noun} {f.be} built to keep up."
        ),
        lambda f: (
            f"No half measures: {f.spec_prose}, {f.feature} and {f.feature2}, all in the {f.brand} {f.noun}."
        ),
        lambda f: f"Take on {f.use} with the {f.brand} {f.noun} and {f.feature}.",
        lambda f: f"{f.spec_prose_cap} and {f.feature}: the {f.brand} {f.noun} hold{f.s} nothing back.",
        lambda f: f"The {f.brand} {f.noun}, {f.made_of} {f.material}, with {f.feature}. No second-guessing.",
        lambda f: f"Your {f.use} just got an upgrade: the {f.brand} {f.noun} with {f.spec_prose}.",
        lambda f: f"Make the move to the {f.brand} {f.noun}: {f.feature}, {f.feature2} and {f.spec_prose}.",
        lambda f: f"Bring {f.feature} to {f.use} with the {f.brand} {f.noun}.",
    ),
    ctas=("Shop now", "Get yours", "Grab it today", "Claim yours", "Go get it", "Make it yours"),
    fallback_headline=lambda f: f"{f.brand} {f.noun_title}",
    fallback_body=lambda f: f"The {f.brand} {f.noun} with {f.feature}.",
)
_LUXURY = _ToneTemplates(
    tone="luxury",
    headlines=(
        lambda f: f"The {f.brand} {f.noun_title}, Refined",
        lambda f: f"Quiet Elegance: The {f.brand} {f.noun_title}",
        lambda f: f"The Elevated {f.noun_title} from {f.brand}",
        lambda f: f"{f.brand}. The Art of the {f.noun_title}.",
        lambda f: f"Understated, Exceptional: {f.brand} {f.noun_title}",
        lambda f: f"The {f.spec} {f.noun_title}, Elevated by {f.brand}",
        lambda f: f"Discover the {f.brand} {f.noun_title}",
        lambda f: f"Considered Design: {f.brand} {f.spec} {f.noun_title}",
        lambda f: f"For Those Who Notice: The {f.brand} {f.noun_title}",
        lambda f: f"{f.brand} {f.noun_title}: Crafted Without Compromise",
    ),
    bodies=(
        lambda f: (
            f"{f.made_of_cap} {f.material} and finished with {f.feature}, the {f.brand} {f.noun} "
            f"{f.be} quiet luxury for {f.use}."
        ),
        lambda f: (
            f"Every detail considered: {f.feature}, {f.feature2} and {f.spec_prose}. Meet the "
            f"{f.brand} {f.noun}."
        ),
        lambda f: (
            f"The {f.brand} {f.noun} pair{f.s} {f.material} with {f.feature}, an understated companion "
            f"for {f.use}."
        ),
        lambda f: (
            f"Indulge in {f.spec_prose} and {f.feature}, thoughtfully realized in the {f.brand} {f.noun}."
        ),
        lambda f: (
            f"Refined by {f.brand}, {f.this} {f.noun} {f.be} {f.made_of} {f.material} and offer{f.s} "
            f"{f.spec_prose}."
        ),
        lambda f: f"Discover {f.feature}, rendered with care in the {f.brand} {f.noun}.",
        lambda f: (
            f"{f.brand} brings {f.spec_prose} to the {f.noun}, with {f.feature} for a finish that "
            "feels effortless."
        ),
        lambda f: f"A study in restraint: {f.material}, {f.feature} and {f.spec_prose}, from {f.brand}.",
        lambda f: f"Elevate {f.use} with the {f.brand} {f.noun}, {f.made_of} {f.material}.",
    ),
    ctas=(
        "Discover more",
        "Explore the details",
        "Experience it",
        "Indulge today",
        "Discover yours",
        "Make it yours",
    ),
    fallback_headline=lambda f: f"The {f.brand} {f.noun_title}",
    fallback_body=lambda f: f"The {f.brand} {f.noun}, {f.made_of} {f.material}.",
)
_VALUE = _ToneTemplates(
    tone="value",
    headlines=(
        lambda f: f"{f.brand} {f.noun_title}, Just {f.price}",
        lambda f: f"{f.spec} {f.noun_title} for {f.price}",
        lambda f: f"Smart Buy: {f.brand} {f.noun_title} at {f.price}",
        lambda f: f"Everything You Need for {f.price}",
        lambda f: f"{f.brand} {f.noun_title}: Quality for {f.price}",
        lambda f: f"Get the {f.brand} {f.noun_title} for {f.price}",
        lambda f: f"{f.noun_title} Essentials from {f.brand}, {f.price}",
        lambda f: f"Real Value: {f.spec} {f.noun_title}, {f.price}",
        lambda f: f"{f.price} Well Spent: {f.brand} {f.noun_title}",
        lambda f: f"{f.brand} {f.spec} {f.noun_title}, Priced at {f.price}",
    ),
    bodies=(
        lambda f: f"Get {f.spec_prose} and {f.feature} in the {f.brand} {f.noun} for {f.price}.",
        lambda f: (
            f"For {f.price}, the {f.brand} {f.noun} give{f.s} you {f.feature}, {f.feature2} and "
            f"{f.spec_prose}."
        ),
        lambda f: f"{f.made_of_cap} {f.material} with {f.feature}: solid value at {f.price}.",
        lambda f: f"Everything you need for {f.use}, in the {f.brand} {f.noun} for {f.price}.",
        lambda f: f"The {f.brand} {f.noun} offer{f.s} {f.spec_prose} and {f.feature} for just {f.price}.",
        lambda f: f"Practical and priced at {f.price}: the {f.brand} {f.noun}, {f.made_of} {f.material}.",
        lambda f: f"No extras you don't need, just {f.feature} and {f.spec_prose} for {f.price}.",
        lambda f: f"Smart value for {f.use}: the {f.brand} {f.noun} with {f.feature}, at {f.price}.",
        lambda f: f"Pay {f.price} and get the {f.brand} {f.noun} with {f.feature}.",
    ),
    ctas=("Shop now", "Add to cart", "Buy now", "Get it today", "Order now", "See details"),
    fallback_headline=lambda f: f"{f.noun_title} for {f.price}",
    fallback_body=lambda f: f"The {f.brand} {f.noun} for {f.price}.",
)
_PLAYFUL = _ToneTemplates(
    tone="playful",
    headlines=(
        lambda f: f"Say Hello to Your New {f.noun_title}!",
        lambda f: f"{f.brand} {f.noun_title}? Yes, Please!",
        lambda f: f"Oh Hey, {f.brand} {f.noun_title}!",
        lambda f: f"Spoiler: You'll Love {f.this_cap} {f.noun_title}",
        lambda f: f"Meet Your New Favorite {f.noun_title}",
        lambda f: f"Good Vibes Only: The {f.brand} {f.noun_title}",
        lambda f: f"Treat Yourself to the {f.brand} {f.noun_title}",
        lambda f: f"Ready, Set, {f.noun_title}!",
        lambda f: f"Psst... It's {f.brand} {f.noun_title} Time",
        lambda f: f"{f.spec} {f.noun_title}, Big Smiles",
    ),
    bodies=(
        lambda f: f"Guess what has {f.spec_prose} and {f.feature}? The {f.brand} {f.noun}!",
        lambda f: (
            f"{f.feature_cap} and {f.spec_prose}? Check and check: consider yourself covered by the "
            f"{f.brand} {f.noun}."
        ),
        lambda f: f"Warning: the {f.brand} {f.noun} may cause excessive happiness during {f.use}.",
        lambda f: (
            f"Made for {f.use} and {f.made_of} {f.material}, the {f.brand} {f.noun} {f.be} ready to play."
        ),
        lambda f: f"Plot twist: {f.material} plus {f.feature} equals your new favorite {f.noun}.",
        lambda f: (
            f"Who says {f.use} can't be fun? The {f.brand} {f.noun} bring{f.s} {f.feature} to the party."
        ),
        lambda f: f"Hello, {f.use}! Say hi to the {f.brand} {f.noun} and {f.feature}.",
        lambda f: (
            f"Cue the happy dance: the {f.brand} {f.noun} with {f.feature} and {f.feature2} {f.be} here."
        ),
        lambda f: f"Tiny confession: we can't stop talking about {f.spec_prose} and {f.feature}.",
    ),
    ctas=("Treat yourself", "Let's go!", "Snag yours", "Join the fun", "Yes, please!", "Bring it home"),
    fallback_headline=lambda f: f"{f.brand} {f.noun_title}!",
    fallback_body=lambda f: f"Say hi to the {f.brand} {f.noun}!",
)
_TONE_TEMPLATES: tuple[_ToneTemplates, ...] = (_BOLD, _LUXURY, _VALUE, _PLAYFUL)
if tuple(templates.tone for templates in _TONE_TEMPLATES) != TONES:
    raise RuntimeError("_TONE_TEMPLATES must list the tones in TONES order")


# --------------------------------------------------------------------------------------------
# Channel templates: the same tones written for an ad platform's fields and limits
# (training.ml.channels). google_search: headline, description, and a second short headline in place
# of the call to action (a search ad has no button). meta_feed: headline, primary text, and the link
# description under the headline. Every field keeps its limit by construction: the hashed phrasing,
# else the fallbacks in order (each shorter than the last), else the last one cut by whole words.
# The platforms' editorial rules hold too: no superlative or guarantee, no word in capitals, at most
# one "!" and none in a search ad's headlines, no number the product does not have.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ChannelTemplates:
    """One tone's phrasings in one channel, with the channel's limits for each field.

    `key` is what follows the sku in the text whose CRC-32 picks the phrasings ("sku|tone|channel",
    see `_write_channel_creatives`); a field's fallbacks stand in, in order, when the picked phrasing
    runs over its limit, and the last one fits every product of the catalog (a test tries them all).
    """

    channel: str
    tone: str
    key: bytes
    headlines: tuple[_Template, ...]
    bodies: tuple[_Template, ...]
    ctas: tuple[_Template, ...]
    fallback_headlines: tuple[_Template, ...]
    fallback_bodies: tuple[_Template, ...]
    fallback_ctas: tuple[_Template, ...]
    headline_limit: int
    body_limit: int
    cta_limit: int


def _channel_templates(
    channel: str,
    tone: str,
    *,
    headlines: tuple[_Template, ...],
    bodies: tuple[_Template, ...],
    ctas: tuple[_Template, ...],
    fallback_headlines: tuple[_Template, ...],
    fallback_bodies: tuple[_Template, ...],
    fallback_ctas: tuple[_Template, ...],
) -> _ChannelTemplates:
    limits = CHANNEL_OUTPUT_LIMITS[channel]
    return _ChannelTemplates(
        channel=channel,
        tone=tone,
        key=f"|{tone}|{channel}".encode(),
        headlines=headlines,
        bodies=bodies,
        ctas=ctas,
        fallback_headlines=fallback_headlines,
        fallback_bodies=fallback_bodies,
        fallback_ctas=fallback_ctas,
        headline_limit=limits["headline"],
        body_limit=limits["body"],
        cta_limit=limits["cta"],
    )


_GOOGLE_SEARCH = (
    _channel_templates(
        "google_search",
        "bold",
        headlines=(
            lambda f: f"{f.brand} {f.noun_title}",
            lambda f: f"{f.noun_title} Power, {f.price}",
            lambda f: f"{f.spec} {f.noun_title}, {f.price}",
            lambda f: f"Go Big: {f.noun_title}, {f.price}",
            lambda f: f"{f.brand} Power, {f.price}",
            lambda f: f"Get the {f.noun_title}, {f.price}",
            lambda f: f"Own It: {f.brand}, {f.price}",
            lambda f: f"Meet {f.brand}, {f.price}",
        ),
        bodies=(
            lambda f: f"The {f.brand} {f.noun} bring{f.s} {f.spec_prose} and {f.feature}.",
            lambda f: f"{f.feature_cap}: the {f.brand} {f.noun} hold{f.s} nothing back.",
            lambda f: f"Take on {f.use} with the {f.brand} {f.noun} and {f.feature}.",
            lambda f: f"{f.made_of_cap} {f.material}, the {f.brand} {f.noun} keep{f.s} up.",
            lambda f: f"Bring {f.feature} to {f.use} with the {f.brand} {f.noun}.",
            lambda f: f"Your {f.use} just got an upgrade: the {f.brand} {f.noun} at {f.price}.",
        ),
        ctas=(
            lambda f: f"Get Yours for {f.price}",
            lambda f: f"Grab {f.brand} for {f.price}",
            lambda f: f"Order Today for {f.price}",
            lambda f: f"{f.price}. Make It Yours.",
            lambda f: f"Go Get {f.brand} for {f.price}",
            lambda f: f"Claim Yours, {f.price}",
            lambda f: f"Shop {f.brand} at {f.price}",
            lambda f: f"Order Yours at {f.price}",
        ),
        fallback_headlines=(
            lambda f: f"{f.noun_title} at {f.price}",
            lambda f: f"Get the {f.noun_title}",
        ),
        fallback_bodies=(
            lambda f: f"The {f.brand} {f.noun} with {f.feature}. Shop now.",
            lambda f: f"The {f.brand} {f.noun} with {f.feature}.",
            lambda f: f"Meet the {f.brand} {f.noun}.",
        ),
        fallback_ctas=(lambda f: f"Grab Yours for {f.price}",),
    ),
    _channel_templates(
        "google_search",
        "luxury",
        headlines=(
            lambda f: f"The {f.brand} {f.noun_title}",
            lambda f: f"{f.brand}. The {f.noun_title}.",
            lambda f: f"Refined {f.noun_title}, {f.price}",
            lambda f: f"Timeless {f.noun_title}, {f.price}",
            lambda f: f"{f.brand} Craft, {f.price}",
            lambda f: f"Elegant {f.noun_title}, {f.price}",
            lambda f: f"Quiet Luxury, {f.price}",
            lambda f: f"{f.material_title}, by {f.brand}",
        ),
        bodies=(
            lambda f: f"{f.made_of_cap} {f.material} and finished with {f.feature}, by {f.brand}.",
            lambda f: f"Every detail considered: {f.feature} and {f.spec_prose}, by {f.brand}.",
            lambda f: f"The {f.brand} {f.noun} pair{f.s} {f.material} with {f.feature}.",
            lambda f: f"Discover {f.feature}, rendered with care in the {f.brand} {f.noun}.",
            lambda f: f"Elevate {f.use} with the {f.brand} {f.noun}, {f.made_of} {f.material}.",
            lambda f: f"Understated and exceptional: the {f.brand} {f.noun}, {f.price}.",
        ),
        ctas=(
            lambda f: f"Discover It for {f.price}",
            lambda f: f"Yours for {f.price}",
            lambda f: f"The {f.noun_title}, {f.price}",
            lambda f: f"Explore {f.brand} at {f.price}",
            lambda f: f"Indulge for {f.price}",
            lambda f: f"Choose {f.brand}, {f.price}",
            lambda f: f"Savor {f.brand} at {f.price}",
            lambda f: f"Make It Yours for {f.price}",
        ),
        fallback_headlines=(
            lambda f: f"{f.noun_title} by {f.brand}",
            lambda f: f"Refined {f.noun_title}",
        ),
        fallback_bodies=(
            lambda f: f"The {f.brand} {f.noun}, {f.made_of} {f.material}.",
            lambda f: f"The {f.brand} {f.noun}, refined.",
        ),
        fallback_ctas=(lambda f: f"Discover It at {f.price}",),
    ),
    _channel_templates(
        "google_search",
        "value",
        headlines=(
            lambda f: f"{f.noun_title} for {f.price}",
            lambda f: f"{f.noun_title}, Just {f.price}",
            lambda f: f"{f.spec} {f.noun_title} for {f.price}",
            lambda f: f"{f.brand} at {f.price}",
            lambda f: f"{f.brand} Value: {f.price}",
            lambda f: f"Only {f.price}: {f.noun_title}",
            lambda f: f"{f.price} {f.noun_title}",
            lambda f: f"Smart {f.noun_title}, {f.price}",
        ),
        bodies=(
            lambda f: f"Get {f.feature} in the {f.brand} {f.noun} for {f.price}.",
            lambda f: f"The {f.brand} {f.noun} with {f.feature}, just {f.price}. Order today.",
            lambda f: f"{f.made_of_cap} {f.material} with {f.feature}: solid value at {f.price}.",
            lambda f: f"Everything you need for {f.use}: the {f.brand} {f.noun} at {f.price}.",
            lambda f: f"Pay {f.price} and get the {f.brand} {f.noun} with {f.feature}.",
            lambda f: f"Practical and priced at {f.price}: the {f.brand} {f.noun}.",
        ),
        ctas=(
            lambda f: f"Buy Now for {f.price}",
            lambda f: f"Buy {f.brand} at {f.price}",
            lambda f: f"Order {f.brand}, {f.price}",
            lambda f: f"{f.brand} for {f.price}",
            lambda f: f"Add to Cart for {f.price}",
            lambda f: f"Order for {f.price} Today",
            lambda f: f"Yours Today for {f.price}",
            lambda f: f"Value {f.noun_title}, {f.price}",
        ),
        fallback_headlines=(
            lambda f: f"{f.noun_title}, {f.price}",
            lambda f: f"Smart {f.noun_title}",
        ),
        fallback_bodies=(
            lambda f: f"The {f.brand} {f.noun} for {f.price}. Order today.",
            lambda f: f"The {f.brand} {f.noun} for {f.price}.",
        ),
        fallback_ctas=(lambda f: f"Buy It Now for {f.price}",),
    ),
    _channel_templates(
        "google_search",
        "playful",
        headlines=(
            lambda f: f"Hi, {f.brand} {f.noun_title}",
            lambda f: f"Oh Hey, {f.brand} at {f.price}",
            lambda f: f"{f.noun_title} Fun, {f.price}",
            lambda f: f"Psst: {f.brand} {f.noun_title}",
            lambda f: f"Yay, {f.brand} for {f.price}",
            lambda f: f"Hi, {f.noun_title} at {f.price}",
            lambda f: f"{f.brand} Joy, {f.price}",
            lambda f: f"Hey, {f.noun_title} for {f.price}",
        ),
        bodies=(
            lambda f: f"Guess what has {f.spec_prose} and {f.feature}? The {f.brand} {f.noun}.",
            lambda f: f"Who says {f.use} can't be fun? Meet the {f.brand} {f.noun}.",
            lambda f: f"Plot twist: {f.material} plus {f.feature} equals your new favorite {f.noun}.",
            lambda f: f"The {f.brand} {f.noun} bring{f.s} {f.feature} to the party. Join in.",
            lambda f: f"Cue the happy dance: the {f.brand} {f.noun} with {f.feature} {f.be} here.",
            lambda f: f"Say hi to the {f.brand} {f.noun} and {f.spec_prose}, for {f.price}.",
        ),
        ctas=(
            lambda f: f"Treat Yourself for {f.price}",
            lambda f: f"Snag It for {f.price}",
            lambda f: f"Bring It Home for {f.price}",
            lambda f: f"Say Yes for {f.price}",
            lambda f: f"Join the Fun for {f.price}",
            lambda f: f"Yes, Please: {f.price}",
            lambda f: f"Snag {f.brand} for {f.price}",
            lambda f: f"Happy {f.noun_title}, {f.price}",
        ),
        fallback_headlines=(
            lambda f: f"Hey, {f.noun_title} at {f.price}",
            lambda f: f"Hello, {f.noun_title}",
        ),
        fallback_bodies=(
            lambda f: f"Say hi to the {f.brand} {f.noun} with {f.feature}.",
            lambda f: f"Say hi to the {f.brand} {f.noun}.",
        ),
        fallback_ctas=(lambda f: f"Snag Yours for {f.price}",),
    ),
)
_META_FEED = (
    _channel_templates(
        "meta_feed",
        "bold",
        headlines=(
            lambda f: f"Meet the {f.brand} {f.noun_title}",
            lambda f: f"{f.brand} {f.spec} {f.noun_title}",
            lambda f: f"Go Big: {f.spec} {f.noun_title}, {f.price}",
            lambda f: f"Own Your Day: {f.brand} {f.noun_title}",
            lambda f: f"{f.noun_title} That Mean{f.s} Business",
            lambda f: f"Done Right: {f.brand} {f.noun_title}",
            lambda f: f"Step Up: {f.brand} {f.noun_title}",
        ),
        bodies=(
            lambda f: (
                f"The {f.brand} {f.noun} bring{f.s} {f.spec_prose} and {f.feature}. Grab {f.it} and go."
            ),
            lambda f: (
                f"{f.made_of_cap} {f.material} with {f.feature}, the {f.brand} {f.noun} {f.be} built to "
                "keep up."
            ),
            lambda f: (
                f"No half measures: {f.spec_prose}, {f.feature} and {f.feature2}, all in the "
                f"{f.brand} {f.noun}."
            ),
            lambda f: f"Take on {f.use} with the {f.brand} {f.noun} and {f.feature}. No second-guessing.",
            lambda f: f"Your {f.use} just got an upgrade: the {f.brand} {f.noun} with {f.spec_prose}.",
            lambda f: f"Make the move to the {f.brand} {f.noun}: {f.feature}, {f.feature2} and more.",
        ),
        ctas=(
            lambda f: f"{f.brand}, {f.price}",
            lambda f: f"{f.noun_title}, {f.price}",
            lambda f: f"{f.spec_prose_cap}",
            lambda f: f"With {f.feature}",
            lambda f: f"{f.spec} {f.noun_title}",
            lambda f: f"Plus {f.feature2}",
        ),
        fallback_headlines=(
            lambda f: f"{f.brand} {f.noun_title}",
            lambda f: f"The {f.spec} {f.noun_title}",
            lambda f: f"Meet the {f.noun_title}",
        ),
        fallback_bodies=(
            lambda f: f"The {f.brand} {f.noun} with {f.feature}. Grab {f.it} and go.",
            lambda f: f"The {f.brand} {f.noun} with {f.feature}.",
        ),
        fallback_ctas=(
            lambda f: f"{f.noun_title} by {f.brand}",
            lambda f: f"{f.noun_title}, {f.price}",
            lambda f: f"Only {f.price}",
        ),
    ),
    _channel_templates(
        "meta_feed",
        "luxury",
        headlines=(
            lambda f: f"The {f.brand} {f.noun_title}, Refined",
            lambda f: f"{f.noun_title} by {f.brand}, {f.price}",
            lambda f: f"{f.brand}. The {f.spec} {f.noun_title}.",
            lambda f: f"The {f.material_title} {f.noun_title}",
            lambda f: f"Considered {f.spec} {f.noun_title}",
            lambda f: f"Discover the {f.brand} {f.noun_title}",
            lambda f: f"Crafted by {f.brand}, {f.price}",
        ),
        bodies=(
            lambda f: (
                f"{f.made_of_cap} {f.material} and finished with {f.feature}, the {f.brand} {f.noun} "
                f"{f.be} quiet luxury."
            ),
            lambda f: f"Every detail considered: {f.feature}, {f.feature2} and {f.spec_prose}.",
            lambda f: f"The {f.brand} {f.noun} pair{f.s} {f.material} with {f.feature}, for {f.use}.",
            lambda f: f"Indulge in {f.spec_prose} and {f.feature}, thoughtfully realized by {f.brand}.",
            lambda f: f"Discover {f.feature}, rendered with care in the {f.brand} {f.noun}.",
            lambda f: f"Elevate {f.use} with the {f.brand} {f.noun}, {f.made_of} {f.material}.",
        ),
        ctas=(
            lambda f: f"{f.made_of_cap} {f.material}",
            lambda f: f"Finished in {f.material}",
            lambda f: f"{f.material_title} by {f.brand}",
            lambda f: f"{f.feature_cap}, refined",
            lambda f: f"The {f.brand} {f.noun_title}",
            lambda f: f"By {f.brand}, {f.price}",
        ),
        fallback_headlines=(
            lambda f: f"The {f.brand} {f.noun_title}",
            lambda f: f"{f.brand} {f.noun_title}",
            lambda f: f"The Refined {f.noun_title}",
        ),
        fallback_bodies=(
            lambda f: f"The {f.brand} {f.noun}, {f.made_of} {f.material}, with {f.feature}.",
            lambda f: f"The {f.brand} {f.noun}, {f.made_of} {f.material}.",
        ),
        fallback_ctas=(
            lambda f: f"{f.material_title}, refined",
            lambda f: f"Refined, {f.price}",
        ),
    ),
    _channel_templates(
        "meta_feed",
        "value",
        headlines=(
            lambda f: f"{f.brand} {f.noun_title}, Just {f.price}",
            lambda f: f"{f.spec} {f.noun_title} for {f.price}",
            lambda f: f"Smart Buy: {f.brand} {f.noun_title}",
            lambda f: f"{f.brand} {f.noun_title} for {f.price}",
            lambda f: f"Real Value: {f.noun_title}, {f.price}",
            lambda f: f"{f.brand} {f.noun_title} at {f.price}",
            lambda f: f"{f.price} Well Spent: {f.noun_title}",
        ),
        bodies=(
            lambda f: f"Get {f.spec_prose} and {f.feature} in the {f.brand} {f.noun} for {f.price}.",
            lambda f: f"For {f.price}, the {f.brand} {f.noun} give{f.s} you {f.feature} and {f.spec_prose}.",
            lambda f: f"{f.made_of_cap} {f.material} with {f.feature}: solid value at {f.price}.",
            lambda f: f"Everything you need for {f.use}, in the {f.brand} {f.noun} for {f.price}.",
            lambda f: f"No extras you don't need, just {f.feature} and {f.spec_prose} for {f.price}.",
            lambda f: f"Smart value for {f.use}: the {f.brand} {f.noun} with {f.feature}, at {f.price}.",
        ),
        ctas=(
            lambda f: f"{f.noun_title}, {f.price}",
            lambda f: f"{f.brand}, {f.price}",
            lambda f: f"{f.brand}, Just {f.price}",
            lambda f: f"{f.spec} {f.noun_title}, {f.price}",
            lambda f: f"{f.material_title}, {f.price}",
            lambda f: f"{f.feature_cap} for {f.price}",
        ),
        fallback_headlines=(
            lambda f: f"{f.brand} {f.noun_title}",
            lambda f: f"{f.noun_title} for {f.price}",
        ),
        fallback_bodies=(
            lambda f: f"The {f.brand} {f.noun} with {f.feature} for {f.price}.",
            lambda f: f"The {f.brand} {f.noun} for {f.price}.",
        ),
        fallback_ctas=(
            lambda f: f"{f.noun_title}, {f.price}",
            lambda f: f"Only {f.price}",
        ),
    ),
    _channel_templates(
        "meta_feed",
        "playful",
        headlines=(
            lambda f: f"{f.brand} {f.noun_title}? Yes, Please!",
            lambda f: f"Oh Hey, {f.brand} {f.noun_title}!",
            lambda f: f"Say Hello to the {f.spec} {f.noun_title}",
            lambda f: f"New Favorite: {f.brand} {f.noun_title}",
            lambda f: f"Treat Yourself: {f.noun_title}, {f.price}",
            lambda f: f"Ready, Set, {f.spec} {f.noun_title}!",
            lambda f: f"Psst: {f.brand} {f.noun_title}",
        ),
        bodies=(
            lambda f: f"Guess what has {f.spec_prose} and {f.feature}? The {f.brand} {f.noun}!",
            lambda f: f"Warning: the {f.brand} {f.noun} may cause excessive happiness during {f.use}.",
            lambda f: (
                f"Made for {f.use} and {f.made_of} {f.material}, the {f.brand} {f.noun} {f.be} ready to play."
            ),
            lambda f: f"Plot twist: {f.material} plus {f.feature} equals your new favorite {f.noun}.",
            lambda f: f"Who says {f.use} can't be fun? The {f.brand} {f.noun} bring{f.s} {f.feature} along.",
            lambda f: f"Tiny confession: we can't stop talking about {f.spec_prose} and {f.feature}.",
        ),
        ctas=(
            lambda f: f"Now with {f.feature}",
            lambda f: f"{f.spec_prose_cap}, too",
            lambda f: f"Big smiles for {f.price}",
            lambda f: f"{f.feature_cap}? Yes.",
            lambda f: f"{f.noun_title} joy for {f.price}",
            lambda f: f"Say hi to {f.feature2}",
        ),
        fallback_headlines=(
            lambda f: f"Hey, {f.brand} {f.noun_title}!",
            lambda f: f"Hello, {f.noun_title}!",
        ),
        fallback_bodies=(
            lambda f: f"Say hi to the {f.brand} {f.noun} with {f.feature}!",
            lambda f: f"Say hi to the {f.brand} {f.noun}!",
        ),
        fallback_ctas=(
            lambda f: f"Hello, {f.noun_title}",
            lambda f: f"Just {f.price}",
        ),
    ),
)
_CHANNEL_TEMPLATES: tuple[_ChannelTemplates, ...] = (*_GOOGLE_SEARCH, *_META_FEED)
if tuple((templates.channel, templates.tone) for templates in _CHANNEL_TEMPLATES) != tuple(
    (channel, tone) for channel in CHANNELS[1:] for tone in TONES
):
    raise RuntimeError("_CHANNEL_TEMPLATES must list every channel but generic, in CHANNELS order, by tone")


# --------------------------------------------------------------------------------------------
# Generation
#
# Seeding a Mersenne Twister costs ~4 us, more than drawing a whole product, so one generator is
# seeded per block of `_BLOCK_SIZE` products from (seed, block), and every product consumes
# exactly `_DRAWS_PER_PRODUCT` draws: product k is then the draws at a fixed offset of its block's
# stream, and a chunk that starts mid-block skips to it with a single `getrandbits` call. Any draw
# added below must be unconditional, and `_DRAWS_PER_PRODUCT` updated (a test counts them).
# --------------------------------------------------------------------------------------------

_BLOCK_SIZE = 256
_DRAWS_PER_PRODUCT = 31
_BITS_PER_DRAW = 64  # random() consumes two 32-bit Mersenne Twister outputs

_Draw = Callable[[], float]
_Option = TypeVar("_Option")


def generate_catalog(count: int, seed: int) -> list[GeneratedProduct]:
    """`count` products for `seed`; the same arguments always give the same list."""
    return list(iter_catalog(count, seed))


def iter_catalog(count: int, seed: int, start: int = 0) -> Iterator[GeneratedProduct]:
    """Stream products `start` .. `start + count - 1` of the catalog for `seed`.

    Product k depends only on (seed, k), so a catalog of 100,000 can be written in chunks, or in
    parallel, and still equal `generate_catalog(100_000, seed)` item for item. Arguments are
    checked here, at the call, not when the first item is pulled.
    """
    _check_catalog_arguments(count, seed, start)
    return _generate(count, seed, start)


def _check_catalog_arguments(count: int, seed: int, start: int) -> None:
    if count < 0 or start < 0:
        raise ValueError(f"count and start must be >= 0, got count={count}, start={start}")
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    if start + count > INDEX_LIMIT:
        raise ValueError(f"a catalog holds at most {INDEX_LIMIT:,} products, asked up to {start + count:,}")


def _generate(count: int, seed: int, start: int) -> Iterator[GeneratedProduct]:
    rng = random.Random()
    seed_hex = f"{seed:X}"
    for index in range(start, start + count):
        offset = index % _BLOCK_SIZE
        if index == start or offset == 0:
            _seek(rng, seed, index // _BLOCK_SIZE, offset)
        yield _build_product(rng.random, seed_hex, index)


def _seek(rng: random.Random, seed: int, block: int, offset: int) -> None:
    """Put `rng` at the first draw of product `offset` in `block`; one-to-one over (seed, block)."""
    rng.seed(seed * (INDEX_LIMIT // _BLOCK_SIZE + 1) + block)
    if offset:
        rng.getrandbits(offset * _DRAWS_PER_PRODUCT * _BITS_PER_DRAW)


def _pick(options: Sequence[_Option], draw: _Draw) -> _Option:
    """`random.choice` without its Python-level rejection loop; exact for these short tuples."""
    return options[int(draw() * len(options))]


def _build_product(draw: _Draw, seed_hex: str, index: int) -> GeneratedProduct:
    category = _pick(_CATEGORY_TABLE, draw)
    line = _pick(category.lines, draw)
    brand = _pick(category.brands, draw)
    spec = _pick(line.specs, draw)
    material = _pick(line.materials, draw)
    price = _draw_price(line, draw)
    facts = _Facts(
        line, brand, spec, material, _pick_two(line.features, draw), f"${price}", _pick(category.uses, draw)
    )
    sku = f"{category.code}-{seed_hex}-{index:06d}"
    return GeneratedProduct(
        sku=sku,
        title=_pick(_TITLES, draw)(facts),
        category=category.name,
        brand=brand,
        description=_write_description(category, facts, draw),
        price=price,
        rating=_draw_rating(draw),
        # From the sku alone (no draw: every other field stays as it was). `shop_url(sku)` without its
        # encoding step, which a generated sku (upper-case letters, digits, dashes) never needs.
        url=SHOP_URL_PREFIX + sku.lower(),
        creatives=(
            _write_creative(_BOLD, facts, draw),
            _write_creative(_LUXURY, facts, draw),
            _write_creative(_VALUE, facts, draw),
            _write_creative(_PLAYFUL, facts, draw),
            # No draw: the phrasings come from a hash of the sku, so the draws above stay as they were.
            *_write_channel_creatives(facts, zlib.crc32(sku.encode())),
        ),
        noun=line.noun,
        material=material.text,
        spec=spec.title,
        features=(facts.feature, facts.feature2),
    )


def _pick_two(options: tuple[_Phrase, ...], draw: _Draw) -> tuple[_Phrase, _Phrase]:
    """Two different options, in drawn order (two draws)."""
    first = int(draw() * len(options))
    second = (first + 1 + int(draw() * (len(options) - 1))) % len(options)
    return options[first], options[second]


def _draw_price(line: _ProductLine, draw: _Draw) -> Decimal:
    """A shelf price in the line's band [low, high) with a store-like ending (.99, .49, ...)."""
    dollars = line.price_low + int(draw() * (line.price_high - line.price_low))
    return Decimal(f"{dollars}.{_pick(_PRICE_CENTS, draw)}")


def _draw_rating(draw: _Draw) -> Decimal:
    """Mostly 3.5-4.9 like a real store, with a tail from 1.0 to 5.0 (always two draws)."""
    typical, value = draw(), draw()
    if typical < _TYPICAL_RATING_SHARE:
        return _TYPICAL_RATINGS[int(value * len(_TYPICAL_RATINGS))]
    return _RATINGS[int(value * len(_RATINGS))]


def _write_description(category: _Category, facts: _Facts, draw: _Draw) -> str:
    """Three or four sentences: material and spec, two features, a use, sometimes a warranty."""
    sentences = [
        _pick(_OPENING_SENTENCES, draw)(facts),
        _pick(_FEATURE_SENTENCES, draw)(facts),
        _pick(_USE_SENTENCES, draw)(facts),
    ]
    # Three draws whether or not a warranty is written: every product consumes the same count.
    warranty_draw, years_draw, sentence_draw = draw(), draw(), draw()
    if warranty_draw < _WARRANTY_SHARE and category.warranty_years:
        years = category.warranty_years[int(years_draw * len(category.warranty_years))]
        sentences.append(_WARRANTY_SENTENCES[int(sentence_draw * len(_WARRANTY_SENTENCES))](years))
    return " ".join(sentences)


def _write_creative(templates: _ToneTemplates, facts: _Facts, draw: _Draw) -> GeneratedCreative:
    # The three picks are spelled out rather than calling `_pick`: this runs 400,000 times per
    # 100,000 products and the calls were a fifth of the generation time.
    headlines, bodies, ctas = templates.headlines, templates.bodies, templates.ctas
    headline = headlines[int(draw() * len(headlines))](facts)
    if len(headline) > HEADLINE_MAX_CHARS:
        headline = templates.fallback_headline(facts)
    body = bodies[int(draw() * len(bodies))](facts)
    if len(body) > BODY_MAX_CHARS:
        body = templates.fallback_body(facts)
    return GeneratedCreative(templates.tone, headline, body, ctas[int(draw() * len(ctas))])


def _write_channel_creatives(facts: _Facts, sku_crc: int) -> list[GeneratedCreative]:
    """One creative per (channel, tone) after generic. Which phrasings it takes is a stable hash of
    (sku, tone, channel), never a draw, so the draws of the generic creatives stay as they were: the
    CRC-32 of "sku|tone|channel" (`_crc32(key, sku_crc)` extends the sku's CRC by "|tone|channel").
    Headline, body and cta take the phrasing at their own bits of it; one over its field's limit
    gives way to the fallbacks (`_fit`). Unpacks `_CHANNEL_PLAN` rather than reading attributes:
    it runs 800,000 times per 100,000 products, twice as often as `_write_creative`."""
    creatives = []
    for key, tone, channel, headlines, bodies, ctas, limits, fallbacks in _CHANNEL_PLAN:
        pick = _crc32(key, sku_crc)
        headline = headlines[pick % len(headlines)](facts)
        if len(headline) > limits[0]:
            headline = _fit(fallbacks[0], facts, limits[0])
        body = bodies[(pick >> 10) % len(bodies)](facts)
        if len(body) > limits[1]:
            body = _fit(fallbacks[1], facts, limits[1])
        cta = ctas[(pick >> 20) % len(ctas)](facts)
        if len(cta) > limits[2]:
            cta = _fit(fallbacks[2], facts, limits[2])
        creatives.append(GeneratedCreative(tone, headline, body, cta, channel))
    return creatives


_crc32 = zlib.crc32
_CHANNEL_PLAN = tuple(
    (
        templates.key,
        templates.tone,
        templates.channel,
        templates.headlines,
        templates.bodies,
        templates.ctas,
        (templates.headline_limit, templates.body_limit, templates.cta_limit),
        (templates.fallback_headlines, templates.fallback_bodies, templates.fallback_ctas),
    )
    for templates in _CHANNEL_TEMPLATES
)


def _fit(fallbacks: tuple[_Template, ...], facts: _Facts, limit: int) -> str:
    """The first fallback within `limit`; else the last one cut to it by whole words."""
    for fallback in fallbacks:
        text = fallback(facts)
        if len(text) <= limit:
            return text
    return words_within(text, limit)


# A text cut short must not end on a word that needs another after it, nor on a comma or a colon.
_DANGLING_WORDS = frozenset(
    {"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "plus", "the", "to", "with", "your"}
)
_DANGLING_MARKS = ",;:-&"


def words_within(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters by dropping whole words from its end: never a word
    cut in half, never an ending on a dangling comma, colon, "and", "with", "the" and the like.
    "" when not even the first word fits."""
    if len(text) <= limit:
        return text
    words = text.split(" ")
    while words:
        words.pop()
        while words and (
            words[-1].strip(_DANGLING_MARKS).casefold() in _DANGLING_WORDS
            or not words[-1].strip(_DANGLING_MARKS)
        ):
            words.pop()
        cut = " ".join(words).rstrip(_DANGLING_MARKS)
        if len(cut) <= limit:
            return cut
    return ""


# --------------------------------------------------------------------------------------------
# The catalog's vocabulary, for the fact checker (training.ml.metrics.FactChecker) and the
# decoding guard: the brands, product nouns, materials and features this generator writes.
# --------------------------------------------------------------------------------------------


class FactVocabulary:
    """The catalog's brands, product nouns, and the features and materials its copy states."""

    def __init__(
        self,
        brands: Sequence[str],
        nouns: Sequence[str],
        features: Sequence[str] = (),
        materials: Sequence[str] = (),
    ) -> None:
        self.all_brands: tuple[str, ...] = tuple(brands)
        self.all_nouns: tuple[str, ...] = tuple(nouns)
        self.all_features: tuple[str, ...] = tuple(features)  # materials among them
        # which of the features are materials: the fact guard puts a material of the input where the
        # model wrote a foreign one, and another feature where it wrote a feature (not a training input)
        self.all_materials: tuple[str, ...] = tuple(materials)

    def known_terms(self, *frames) -> dict[str, list[str]]:
        """What a fact-fidelity check knows, as the keyword arguments the evaluation, the gate and
        training take (`known_brands`, `known_nouns`, `known_features`): this vocabulary's terms, plus
        the brands in the `brand` column of each frame given (imported catalogs bring brands the
        generator never heard of)."""
        brands = set(self.all_brands)
        for frame in frames:
            if "brand" in frame.columns:
                brands.update(str(brand) for brand in frame["brand"].dropna().unique())
        return {
            "known_brands": sorted(brands),
            "known_nouns": sorted(self.all_nouns),
            "known_features": sorted(self.all_features),
        }


VOCABULARY = FactVocabulary(
    brands=tuple(brand for category in _CATEGORY_TABLE for brand in category.brands),
    nouns=tuple(line.noun for category in _CATEGORY_TABLE for line in category.lines),
    # without the article: "a privacy shutter" and "the privacy shutter" are the same fact
    features=tuple(
        sorted(
            {
                _without_article(phrase.text)
                for category in _CATEGORY_TABLE
                for line in category.lines
                for phrase in (*line.materials, *line.features)
            }
        )
    ),
    materials=tuple(
        sorted(
            {
                material.text
                for category in _CATEGORY_TABLE
                for line in category.lines
                for material in line.materials
            }
        )
    ),
)
