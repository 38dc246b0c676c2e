"""Serving: the per-process model holder (atomic swap), predictions, and the sampled prediction log.

Each API process keeps the active version of every model in memory. ``ModelHolder.sync`` asks the database for
the active versions (one small query), loads what changed, then replaces the whole name→model mapping with one
reference assignment. A request takes one ``LoadedModel`` at its start and uses it to the end, so a swap never
mixes two versions inside a request and never fails one in flight; the old pipeline is freed once no request
holds it.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import structlog
from sklearn import config_context
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from vitrine.db import SessionFactory, session_scope
from vitrine.kit.clock import utcnow
from vitrine.ml import fastpath, registry, repository
from vitrine.ml.batching import PredictionBatcher
from vitrine.ml.features import BookInput, feature_row, normalize_category, scalar_features, to_matrix
from vitrine.models.ml_model_version import MLModelVersion
from vitrine.observability.metrics import PREDICTIONS

log = structlog.get_logger(__name__)

# A version that failed to load is retried after this long (a file may appear later on shared storage).
RETRY_FAILED_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class LoadedModel:
    name: str
    version: int
    version_id: int
    sha256: str
    pipeline: Pipeline
    classes: tuple[int, ...]
    categories: Mapping[str, str]  # lower-case -> the spelling seen in training
    metrics: Mapping[str, Any]
    loaded_at: datetime
    counter: Any = field(repr=False)
    predict_proba: Callable[[Any], Any] = field(repr=False)
    fast_path: bool = False

    @property
    def macro_f1(self) -> float:
        return float(self.metrics["held_out"]["macro_f1"])


@dataclass(frozen=True, slots=True)
class LoadError:
    name: str
    version: int
    error: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Prediction:
    rating: int
    probabilities: dict[str, float]
    confidence: float


def _known_categories(pipeline: Pipeline) -> dict[str, str]:
    encoder = pipeline.named_steps["features"].named_transformers_["category"]
    return {str(c).lower(): str(c) for c in encoder.categories_[0]}


def _probe(pipeline: Pipeline, categories: Sequence[str]) -> Any:
    """A few rows that reach every part of the pipeline (known and unknown categories, in-vocabulary words)."""
    words: list[str] = []
    for _, transformer, _ in pipeline.named_steps["features"].transformers_:
        if isinstance(transformer, TfidfVectorizer):
            words += sorted(transformer.vocabulary_)[:30]
    known = sorted(categories)[:2] or ["unknown"]
    books = [
        BookInput(" ".join(words[:4]) or "probe", 12.5, known[0], 3, " ".join(words[4:40])),
        BookInput(" ".join(words[-3:]) or "probe", 57.99, known[-1], 0, ". ".join(words[::3])),
        BookInput("Probe", 0.0, "Probe: a category never seen", 19, ""),
    ]
    return to_matrix([feature_row(b) for b in books])


def load_version(row: MLModelVersion, artifacts_dir: Path) -> LoadedModel:
    """Verify and load one registered version (raises ``registry.ArtifactError`` with the reason)."""
    label = f"{row.name} v{row.version}"
    pipeline = registry.load(
        artifacts_dir,
        row.artifact_path,
        sha256=row.artifact_sha256,
        sklearn_version=row.sklearn_version,
        features=row.metrics.get("features"),
        label=label,
    )
    kept = ("held_out", "baseline", "chance", "cross_validation", "data", "accuracy_p_value")
    summary: dict[str, Any] = {key: row.metrics[key] for key in kept if key in row.metrics}
    summary["beats_baseline"] = bool(row.metrics.get("beats_baseline", False))
    summary["beats_chance"] = bool(row.metrics.get("beats_chance", False))
    categories = _known_categories(pipeline)
    fast = fastpath.build(pipeline, _probe(pipeline, list(categories.values())))
    return LoadedModel(
        name=row.name,
        version=row.version,
        version_id=row.id,
        sha256=row.artifact_sha256,
        pipeline=pipeline,
        classes=tuple(int(c) for c in pipeline.classes_),
        categories=MappingProxyType(categories),
        metrics=MappingProxyType(summary),
        loaded_at=utcnow(),
        counter=PREDICTIONS.labels(model=row.name, version=str(row.version)),
        predict_proba=fast.predict_proba if fast is not None else pipeline.predict_proba,
        fast_path=fast is not None,
    )


class ModelHolder:
    """The models this process serves. Reads take no lock; ``sync`` calls are serialised."""

    def __init__(self) -> None:
        self._models: Mapping[str, LoadedModel] = MappingProxyType({})
        self._errors: dict[str, LoadError] = {}
        self._failed: dict[str, tuple[int, str, float]] = {}
        self._sync_lock = threading.Lock()
        self.last_sync_at: datetime | None = None

    def get(self, name: str) -> LoadedModel | None:
        return self._models.get(name)

    def models(self) -> Mapping[str, LoadedModel]:
        return self._models

    def errors(self) -> list[LoadError]:
        return list(self._errors.values())

    def sync(self, factory: SessionFactory, artifacts_dir: Path) -> list[str]:
        """Load the active versions this process does not hold yet; return a note per change."""
        with self._sync_lock:
            with factory() as session:
                refs = repository.active_refs(session)
            current = self._models
            updated = dict(current)
            notes: list[str] = []
            wanted = {ref.name: ref for ref in refs}
            for name, ref in wanted.items():
                held = current.get(name)
                if held is not None and held.version_id == ref.id and held.sha256 == ref.artifact_sha256:
                    self._errors.pop(name, None)
                    continue
                failed = self._failed.get(name)
                same = failed is not None and failed[:2] == (ref.id, ref.artifact_sha256)
                if same and failed is not None and time.monotonic() - failed[2] < RETRY_FAILED_SECONDS:
                    continue
                loaded = self._load(factory, artifacts_dir, ref)
                if loaded is not None:
                    updated[name] = loaded
                    previous = f"v{held.version}" if held else "nothing"
                    notes.append(f"{name}: {previous} -> v{loaded.version}")
            for name in set(current) - set(wanted):
                del updated[name]
                self._errors.pop(name, None)
                notes.append(f"{name}: v{current[name].version} -> nothing (no active version)")
            if notes:
                self._models = MappingProxyType(updated)  # the swap: one reference assignment
                log.info("ml.models.swapped", changes=notes, pid=os.getpid())
            self.last_sync_at = utcnow()
            return notes

    def _load(self, factory: SessionFactory, artifacts_dir: Path, ref: repository.ActiveRef) -> LoadedModel | None:
        with factory() as session:
            row = repository.get_version_by_id(session, ref.id)
            if row is None:
                return None
            try:
                loaded = load_version(row, artifacts_dir)
            except registry.ArtifactError as exc:
                self._failed[ref.name] = (ref.id, ref.artifact_sha256, time.monotonic())
                self._errors[ref.name] = LoadError(ref.name, ref.version, str(exc), utcnow())
                log.error("ml.model.load_refused", model=ref.name, version=ref.version, reason=str(exc))
                return None
        self._failed.pop(ref.name, None)
        self._errors.pop(ref.name, None)
        return loaded


def champion(models: Mapping[str, LoadedModel]) -> LoadedModel | None:
    """The loaded model with the best held-out macro F1 (ties: name order), used when no model is named."""
    ranked = sorted(models.values(), key=lambda m: (-m.macro_f1, m.name))
    return ranked[0] if ranked else None


def predict(
    model: LoadedModel, books: Sequence[BookInput], batcher: PredictionBatcher | None = None
) -> tuple[list[Prediction], list[dict[str, Any]]]:
    """Predictions for ``books`` and the feature rows they were computed from (through ``batcher`` if given)."""
    rows = [feature_row(book) for book in books]
    matrix = to_matrix(rows)
    if batcher is not None:
        proba = batcher.predict_proba(model, matrix)
    else:
        # Inputs are validated by the API schema; skip scikit-learn's repeated finiteness and parameter checks.
        with config_context(assume_finite=True, skip_parameter_validation=True):
            proba = model.predict_proba(matrix)
    best = np.argmax(proba, axis=1)
    predictions = [
        Prediction(
            rating=model.classes[int(i)],
            probabilities={str(c): round(float(p), 4) for c, p in zip(model.classes, proba[n], strict=True)},
            confidence=float(proba[n, int(i)]),
        )
        for n, i in enumerate(best)
    ]
    model.counter.inc(len(predictions))
    return predictions, rows


def canonical_category(model: LoadedModel, category: str) -> str | None:
    return model.categories.get(normalize_category(category).lower())


class PredictionLogBuffer:
    """A bounded in-memory sample of predictions, written to the database in batches off the request path."""

    def __init__(self, sample_rate: float, max_pending: int = 10_000, seed: int | None = None) -> None:
        self.sample_rate = max(0.0, min(1.0, sample_rate))
        self._pending: deque[dict[str, Any]] = deque(maxlen=max_pending)
        self._random = random.Random(seed)
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._pending)

    def offer(self, model: LoadedModel, rows: Sequence[dict[str, Any]], predictions: Sequence[Prediction]) -> None:
        if self.sample_rate <= 0:
            return
        now = utcnow()
        for row, prediction in zip(rows, predictions, strict=True):
            if self.sample_rate < 1 and self._random.random() >= self.sample_rate:
                continue
            if len(self._pending) == self._pending.maxlen:
                self.dropped += 1  # the oldest sample is evicted; drift needs a sample, not every request
            self._pending.append(
                {
                    "created_at": now,
                    "model_name": model.name,
                    "model_version": model.version,
                    "features": scalar_features(row),
                    "predicted_rating": prediction.rating,
                    "confidence": round(prediction.confidence, 4),
                }
            )

    def flush(self, factory: SessionFactory) -> int:
        batch: list[dict[str, Any]] = []
        while True:
            try:
                batch.append(self._pending.popleft())
            except IndexError:
                break
        if not batch:
            return 0
        with session_scope(factory) as session:
            return repository.insert_prediction_logs(session, batch)
