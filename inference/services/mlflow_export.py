"""A registered model version as an MLflow pyfunc folder (`manage.py export_mlflow_pyfunc`)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from creativeops.core.errors import ApplicationError
from registry.models import ModelVersion


def model_version_export_pyfunc(*, version: ModelVersion, directory: Path) -> Path:
    """Write `version` as an MLflow pyfunc into `directory` (which must not exist yet).

    The artifact's checksum is compared with the registry's first, as serving does, so an export is
    exactly the model the registry describes. The pyfunc carries its own code (training.ml, no Django),
    so `mlflow models serve -m DIR --env-manager local` runs it from any environment with the packages.
    """
    import mlflow.pyfunc

    import training
    from training.ml import sha256_of_directory, verify_artifact
    from training.ml.pyfunc import ARTIFACT_KEY, CreativeGeneratorPyfunc, pyfunc_signature
    from training.storage import artifact_local_path

    directory = Path(directory)
    if directory.exists():
        raise ApplicationError(f"{directory} already exists; give a new folder to export into.", field="dir")
    source = Path(artifact_local_path(version.artifact_uri))
    if not source.is_dir():
        raise ApplicationError(f"The artifact folder of {version} is missing: {source}.", field="version")
    actual = sha256_of_directory(source)
    if actual != version.artifact_sha256:
        raise ApplicationError(
            f"The artifact of {version} has checksum {actual[:12]}…, the registry recorded "
            f"{version.artifact_sha256[:12]}…; refusing to export it.",
            field="version",
        )
    verify_artifact(source)
    with tempfile.TemporaryDirectory(prefix="creativeops-pyfunc-") as staging:
        # Only the Django-free part of the training app travels with the model: training/ml.
        package = Path(staging) / "training"
        shutil.copytree(Path(training.__file__).parent / "ml", package / "ml", ignore=_caches)
        (package / "__init__.py").write_text('"""training.ml, as exported with an MLflow pyfunc."""\n')
        mlflow.pyfunc.save_model(
            path=str(directory),
            python_model=CreativeGeneratorPyfunc(),
            artifacts={ARTIFACT_KEY: str(source.resolve())},  # MLflow refuses a symlinked folder
            code_paths=[str(package)],
            signature=pyfunc_signature(),
            metadata={
                "creativeops_model_name": version.name,
                "creativeops_model_version": version.version,
                "creativeops_artifact_sha256": version.artifact_sha256,
            },
        )
    return directory


def _caches(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__"]
