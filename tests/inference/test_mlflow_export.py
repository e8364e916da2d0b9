"""manage.py export_mlflow_pyfunc: a registered version as an MLflow pyfunc that MLflow loads and runs."""

from __future__ import annotations

from io import StringIO

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from inference.model_manager import model_get

ITEMS = [
    {"title": "Ridgeway Backpack 30 L", "description": "Ripstop nylon, sheds rain.", "category": "outdoor"},
    {"title": "Aurora Desk Lamp", "description": "Warm LED, 3 levels.", "brand": "Aurora", "price": 39.5},
]


def test_the_export_serves_the_greedy_creatives_of_the_registered_model(production_model, tmp_path):
    import mlflow.pyfunc

    target = tmp_path / "pyfunc"
    out = StringIO()
    call_command("export_mlflow_pyfunc", str(production_model.version), str(target), stdout=out)
    assert f"v{production_model.version} as an MLflow pyfunc to {target}" in out.getvalue()

    model = mlflow.pyfunc.load_model(str(target))
    frame = pd.DataFrame([{**ITEMS[0], "tone": "luxury"}, ITEMS[1]])
    predictions = model.predict(frame, params={"max_new_tokens": 24})

    assert list(predictions.columns) == ["tone", "headline", "body", "cta"]
    assert list(predictions["tone"]) == ["luxury", "bold"]  # a row without a tone gets the default
    expected = model_get().generator.generate(ITEMS, ["luxury", "bold"], max_new_tokens=24)
    assert predictions.to_dict(orient="records") == [variants[0] for variants in expected]
    assert model.metadata.metadata["creativeops_artifact_sha256"] == production_model.artifact_sha256


def test_an_unknown_version_or_an_existing_folder_is_refused(production_model, tmp_path):
    with pytest.raises(CommandError, match="^No registered version 9 of 'creative-generator'.$"):
        call_command("export_mlflow_pyfunc", "9", str(tmp_path / "new"))
    with pytest.raises(CommandError, match="already exists; give a new folder to export into.$"):
        call_command("export_mlflow_pyfunc", str(production_model.version), str(tmp_path))
