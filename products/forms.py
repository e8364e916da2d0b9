"""Forms of the catalog admin pages."""

from __future__ import annotations

from django import forms
from django.conf import settings


class CatalogImportForm(forms.Form):
    file = forms.FileField(
        label="Catalog file",
        help_text=(
            "A .csv (UTF-8, with or without BOM) or .json file. Columns: sku, title, category, brand, "
            "description, price, rating; optional tone, headline, body, cta (one row per creative)."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.json,text/csv,application/json"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.IMPORT_MAX_FILE_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"{upload.name} is {upload.size:,} bytes; the import limit is {limit:,} bytes "
                "(IMPORT_MAX_FILE_BYTES). Split the catalog into smaller files."
            )
        return upload


class CatalogImportConfirmForm(forms.Form):
    """The second step: the token of the upload that the preview showed."""

    token = forms.CharField(widget=forms.HiddenInput, max_length=64)
