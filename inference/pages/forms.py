"""The inputs of the marketers' pages, validated with the limits named in every error."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.validators import MaxValueValidator

from creativeops.core.errors import ApplicationError
from inference.selectors_pages import DEFAULT_SORT, SORTS, CreativeFilters, tone_choices
from inference.services import generation_limits
from inference.services.ad_exports import (
    AD_EXPORT_PLATFORMS,
    DEFAULT_AD_GROUP,
    DEFAULT_CAMPAIGN,
    GOOGLE_ADS,
    NAME_MAX_LENGTH,
    name_template_parse,
)
from registry.models import ModelVersion

SEARCH_MAX_CHARS = 200
PRICE_LIMIT = Decimal("99999999.99")


class CreativeFilterForm(forms.Form):
    """The query string of /creatives/ and of its CSV export (one form, so both read the same rows)."""

    q = forms.CharField(label="Search", required=False, max_length=SEARCH_MAX_CHARS, strip=True)
    category = forms.ChoiceField(label="Category", required=False)
    tone = forms.ChoiceField(label="Tone", required=False)
    brand = forms.CharField(label="Brand", required=False, max_length=100, strip=True)
    price_min = forms.DecimalField(
        label="Price from", required=False, min_value=0, max_value=PRICE_LIMIT, decimal_places=2
    )
    price_max = forms.DecimalField(
        label="Price to", required=False, min_value=0, max_value=PRICE_LIMIT, decimal_places=2
    )
    version = forms.TypedChoiceField(label="Model version", required=False, coerce=int, empty_value=None)
    sort = forms.ChoiceField(
        label="Sort by", required=False, choices=[(key, label) for key, (label, _) in SORTS.items()]
    )

    def __init__(self, data, *, categories: list[str], model_versions: list[ModelVersion]):
        super().__init__(data)
        self.model_versions = {version.version: version for version in model_versions}
        self.fields["category"].choices = [("", "All categories")] + [(name, name) for name in categories]
        self.fields["tone"].choices = [("", "All tones")] + tone_choices()
        self.fields["version"].choices = [("", "Production")] + [
            (version.version, f"v{version.version} ({version.get_status_display().lower()})")
            for version in model_versions
        ]
        for name in ("price_min", "price_max"):
            self.fields[name].widget.attrs.update({"inputmode": "decimal", "step": "0.01", "min": "0"})
        self.fields["q"].widget.attrs.update({"type": "search", "placeholder": "Product title or headline"})
        self.fields["brand"].widget.attrs.update({"list": "brand-options", "autocomplete": "off"})

    def clean(self):
        cleaned = super().clean()
        price_min, price_max = cleaned.get("price_min"), cleaned.get("price_max")
        if price_min is not None and price_max is not None and price_min > price_max:
            self.add_error(
                "price_max", f"“Price to” ({price_max}) must not be below “Price from” ({price_min})."
            )
        return cleaned

    def filters(self) -> CreativeFilters:
        data = self.cleaned_data
        return CreativeFilters(
            search=data.get("q") or "",
            category=data.get("category") or "",
            tone=data.get("tone") or "",
            brand=data.get("brand") or "",
            price_min=data.get("price_min"),
            price_max=data.get("price_max"),
            sort=data.get("sort") or DEFAULT_SORT,
        )

    def chosen_version(self) -> ModelVersion | None:
        """The version asked for, or None for "production" (the default)."""
        number = self.cleaned_data.get("version")
        return self.model_versions.get(number) if number is not None else None


class RegenerateForm(forms.Form):
    tone = forms.ChoiceField(label="Tone", choices=tone_choices)
    num_variants = forms.IntegerField(label="Variants", min_value=1, initial=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The serving limit, read per request (an operator may change it without a code change).
        limit = generation_limits().max_variants
        field = self.fields["num_variants"]
        field.max_value = limit
        field.validators.append(MaxValueValidator(limit))
        field.widget.attrs["max"] = limit
        field.help_text = f"From 1 to {limit}."


class AdExportForm(forms.Form):
    """The ad-platform export of /creatives/: its format and, for Google Ads, the campaign and ad group
    names. Sent with the page's filters, which choose the products (see `CreativeFilterForm`)."""

    platform = forms.ChoiceField(
        label="Format",
        choices=list(AD_EXPORT_PLATFORMS.items()),
        initial=GOOGLE_ADS,
        widget=forms.RadioSelect,
    )
    campaign = forms.CharField(
        label="Campaign",
        required=False,
        max_length=NAME_MAX_LENGTH,
        initial=DEFAULT_CAMPAIGN,
        strip=True,
        help_text="Google Ads only. Text, with {category}, {brand} or {sku} filled in per product.",
    )
    ad_group = forms.CharField(
        label="Ad group",
        required=False,
        max_length=NAME_MAX_LENGTH,
        initial=DEFAULT_AD_GROUP,
        strip=True,
        help_text=(
            "Google Ads only; as the campaign. Google serves at most 3 responsive search ads per ad group: "
            "“{brand} {sku}” gives each product its own."
        ),
    )

    def clean_campaign(self) -> str:
        return self._name("campaign", "Campaign", DEFAULT_CAMPAIGN)

    def clean_ad_group(self) -> str:
        return self._name("ad_group", "Ad group", DEFAULT_AD_GROUP)

    def _name(self, field_name: str, label: str, default: str) -> str:
        """Empty means the default; anything else must be a template Google accepts."""
        template = self.cleaned_data.get(field_name) or default
        try:
            name_template_parse(template, label=label)
        except ApplicationError as error:
            raise forms.ValidationError(error.message, code="invalid_name") from None
        return template
