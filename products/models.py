"""The catalog and the immutable dataset versions cut from it."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models


class Tone(models.TextChoices):
    BOLD = "bold", "Bold"
    LUXURY = "luxury", "Luxury"
    VALUE = "value", "Value"
    PLAYFUL = "playful", "Playful"


class Channel(models.TextChoices):
    """Where a creative runs: the names of `training.ml.channels.CHANNELS` (which holds each one's fields
    and limits; `products` may not import `training`, so a test keeps the two lists equal)."""

    GENERIC = "generic", "Generic"
    GOOGLE_SEARCH = "google_search", "Google search ad"
    META_FEED = "meta_feed", "Meta feed ad"


PRODUCT_URL_SCHEMES: tuple[str, ...] = ("http", "https")
PRODUCT_URL_MAX_LENGTH = 500
product_url_validator = URLValidator(
    schemes=list(PRODUCT_URL_SCHEMES), message="Enter an http:// or https:// address of the product's page."
)


class ProductQuerySet(models.QuerySet):
    def with_creatives(self):
        return self.prefetch_related("reference_creatives")

    def search(self, text: str):
        if not text:
            return self
        return self.filter(models.Q(sku__icontains=text) | models.Q(title__icontains=text))


class Product(models.Model):
    class Source(models.TextChoices):
        GENERATED = "generated", "Generated"
        IMPORTED = "imported", "Imported"

    sku = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    category = models.CharField(max_length=64, db_index=True)
    brand = models.CharField(max_length=100, db_index=True)
    description = models.TextField(max_length=5000)
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    rating = models.DecimalField(
        max_digits=2, decimal_places=1, validators=[MinValueValidator(0), MaxValueValidator(5)]
    )
    # The product's page on the shop, the Final URL of an ad. `db_default` as well as `default`: a row
    # inserted by raw SQL that does not name the column (benchmarks, scale tests) gets "" too.
    url = models.URLField(
        max_length=PRODUCT_URL_MAX_LENGTH,
        blank=True,
        default="",
        db_default="",
        validators=[product_url_validator],
        help_text="The product's page on the shop (http or https); empty when unknown.",
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.GENERATED, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gt=0), name="product_price_positive"),
            models.CheckConstraint(
                condition=models.Q(rating__gte=0, rating__lte=5), name="product_rating_0_5"
            ),
        ]
        indexes = [
            # The marketers' creatives page sorts by title or price (then sku): reading products in
            # index order lets a page stop after its rows instead of sorting the whole catalog.
            models.Index(fields=["title", "sku"], name="product_title_sku"),
            models.Index(fields=["price", "sku"], name="product_price_sku"),
            # ... and most often within one category.
            models.Index(fields=["category", "title", "sku"], name="product_category_title_sku"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} · {self.title}"

    @property
    def shop_link(self) -> str:
        """`url` when it is an http(s) address, else "": what a page may put in a link's href. Every
        write path validates the scheme; this keeps a row written around them (raw SQL) harmless."""
        return self.url if self.url.lower().startswith(tuple(f"{s}://" for s in PRODUCT_URL_SCHEMES)) else ""


class ReferenceCreative(models.Model):
    """A creative a person (or the generator) wrote for a product in one tone for one channel: the
    model's training target. `channel` says whose limits the text keeps (`generic` for copy that was
    written for no ad platform in particular, as all of it was before channels)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="reference_creatives")
    tone = models.CharField(max_length=16, choices=Tone.choices)
    # `db_default` as well: a row inserted by raw SQL that does not name the column is generic too.
    channel = models.CharField(
        max_length=32, choices=Channel.choices, default=Channel.GENERIC, db_default=Channel.GENERIC
    )
    headline = models.CharField(max_length=200)
    body = models.TextField(max_length=1000)
    cta = models.CharField(max_length=80)

    class Meta:
        ordering = ["product_id", "channel", "tone"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "tone", "channel"], name="reference_creative_one_per_tone_channel"
            )
        ]

    def __str__(self) -> str:
        return f"{self.product_id} [{self.channel}/{self.tone}] {self.headline}"


class DatasetVersion(models.Model):
    """A snapshot of the catalog, written once as Parquet with its SHA-256; never changed afterwards."""

    class Kind(models.TextChoices):
        TRAINING = "training", "Training (catalog snapshot)"
        GOLDEN = "golden", "Golden evaluation set (never trained on)"
        OOD = "ood", "Out-of-distribution evaluation set (never trained on)"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"
        API = "api", "API"
        PIPELINE = "pipeline", "Pipeline"
        SYSTEM = "system", "System"

    number = models.PositiveIntegerField(unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TRAINING)
    file = models.CharField(max_length=500, help_text="Path of the Parquet file in artifact storage.")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    row_count = models.PositiveIntegerField(help_text="Rows in the file: one per reference creative.")
    product_count = models.PositiveIntegerField()
    split_counts = models.JSONField(default=dict, help_text="Products per split: train / validation / test.")
    statistics = models.JSONField(default=dict, help_text="Summary statistics, the drift baseline.")
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=200, blank=True)
    pruned_at = models.DateTimeField(null=True, blank=True, help_text="When retention deleted the file.")

    class Meta:
        ordering = ["-number"]
        get_latest_by = "number"

    def __str__(self) -> str:
        return f"v{self.number} ({self.kind}, {self.product_count} products)"
