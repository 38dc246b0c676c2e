"""Model artifacts on disk: saved with skops (no pickle), verified by SHA-256 and library version before loading.

Loading refuses, with a message that says why: a path outside the artifacts directory, a missing file, a file
whose digest differs from the registry's, a model saved by another scikit-learn version (estimators are only
guaranteed to behave the same in the version that fitted them), a model built on another feature definition,
and any object type outside ``TRUSTED_TYPES``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import sklearn
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from vitrine.ml.features import FEATURE_COLUMNS

# Types our pipelines contain that skops does not trust by default. Anything else in a file is refused.
TRUSTED_TYPES: Final = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "scipy.sparse._csr.csr_matrix",
    }
)
SUFFIX: Final = ".skops"


class ArtifactError(Exception):
    """The artifact cannot be used; ``str(exc)`` is a message for operators and API clients."""


class IncompatibleArtifact(ArtifactError):
    """Saved by a different scikit-learn version or for a different feature definition."""


class CorruptArtifact(ArtifactError):
    """Missing, outside the artifacts directory, altered since it was registered, or holding untrusted types."""


@dataclass(frozen=True, slots=True)
class SavedArtifact:
    path: str  # relative to the artifacts directory
    sha256: str
    size: int


def _slim(estimator: Any) -> None:
    """Drop fitted state that prediction never reads (TF-IDF keeps every pruned term in ``stop_words_``)."""
    if isinstance(estimator, TfidfVectorizer) and hasattr(estimator, "stop_words_"):
        del estimator.stop_words_
    elif isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            _slim(step)
    elif isinstance(estimator, ColumnTransformer):
        for _, transformer, _ in getattr(estimator, "transformers_", []):
            _slim(transformer)


def save(pipeline: Pipeline, artifacts_dir: Path, name: str, version: int) -> SavedArtifact:
    """Write the artifact atomically (temporary file + rename) and return its relative path and digest."""
    _slim(pipeline)
    # Deflate at level 1: a quarter of the size (TF-IDF vocabularies and trees compress well) at the same speed.
    data = sio.dumps(pipeline, compression=zipfile.ZIP_DEFLATED, compresslevel=1)
    digest = hashlib.sha256(data).hexdigest()
    relative = Path(name) / f"v{version:04d}-{digest[:12]}{SUFFIX}"
    target = artifacts_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return SavedArtifact(path=relative.as_posix(), sha256=digest, size=len(data))


def check_compatible(label: str, sklearn_version: str, features: list[str] | None) -> None:
    if sklearn_version != sklearn.__version__:
        raise IncompatibleArtifact(
            f"{label} was saved by scikit-learn {sklearn_version}; this process runs {sklearn.__version__}. "
            "Retrain it with this version (POST /api/v1/ml/train) or promote a compatible version."
        )
    if features is not None and list(features) != list(FEATURE_COLUMNS):
        raise IncompatibleArtifact(f"{label} was trained on another feature definition; retrain it")


def resolve(artifacts_dir: Path, relative: str) -> Path:
    root = artifacts_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path.suffix != SUFFIX:
        raise CorruptArtifact(f"artifact path {relative!r} is not a model file inside the artifacts directory")
    return path


def load(
    artifacts_dir: Path,
    relative: str,
    *,
    sha256: str,
    sklearn_version: str,
    features: list[str] | None,
    label: str,
) -> Pipeline:
    """Verify and load one artifact. Raises ``ArtifactError`` subclasses with a readable reason."""
    check_compatible(label, sklearn_version, features)
    path = resolve(artifacts_dir, relative)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorruptArtifact(f"{label}: artifact {relative} cannot be read ({exc.strerror})") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise CorruptArtifact(f"{label}: artifact {relative} has SHA-256 {actual[:12]}…, expected {sha256[:12]}…")
    try:
        untrusted = set(sio.get_untrusted_types(data=data))
    except Exception as exc:  # skops raises several types for malformed files
        raise CorruptArtifact(f"{label}: artifact {relative} is not a valid skops file ({exc})") from None
    refused = sorted(untrusted - TRUSTED_TYPES)
    if refused:
        raise CorruptArtifact(f"{label}: artifact {relative} contains untrusted types {refused}")
    try:
        pipeline = sio.loads(data, trusted=sorted(untrusted))
    except Exception as exc:
        raise CorruptArtifact(f"{label}: artifact {relative} could not be loaded ({exc})") from None
    if not isinstance(pipeline, Pipeline):
        raise CorruptArtifact(f"{label}: artifact {relative} does not hold a scikit-learn Pipeline")
    return pipeline
