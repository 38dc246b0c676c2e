"""ML rules: the training run, registration and promotion, the feature tables, predictions and drift.

Services take a ``Session`` and never commit; ``run_training`` is the job body and owns its short sessions.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import sklearn
import structlog
from sqlalchemy.orm import Session

from vitrine.config import Settings
from vitrine.db import SessionFactory, session_scope
from vitrine.errors import Conflict, NotFound, Unprocessable
from vitrine.kit.clock import utcnow
from vitrine.kit.pagination import Page, PageParams
from vitrine.ml import drift, registry, repository
from vitrine.ml.batching import PredictionBatcher
from vitrine.ml.features import FEATURE_COLUMNS, TARGET, BookInput, feature_row
from vitrine.ml.predict import (
    LoadedModel,
    ModelHolder,
    PredictionLogBuffer,
    canonical_category,
    champion,
    load_version,
    predict,
)
from vitrine.ml.schemas import (
    BatchPredictionOut,
    BookFeaturesIn,
    CacheStatus,
    DriftReport,
    FeatureRowRead,
    LoadedModelRead,
    LoadErrorRead,
    PredictionItem,
    PredictionOut,
    TrainingRowRead,
)
from vitrine.ml.training import LabeledBook, TrainedModel, TrainingConfig, TrainingResult, train
from vitrine.models.ml_model_version import MLModelVersion

log = structlog.get_logger(__name__)

CSV_CHUNK_ROWS = 500


# --- Feature tables -------------------------------------------------------------------------------------------


def _row(item: LabeledBook, with_target: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"book_id": item.book_id, **feature_row(item.book)}
    if with_target:
        row[TARGET] = item.rating
    return row


def feature_page(session: Session, params: PageParams, *, with_target: bool) -> Page[Any]:
    items = repository.labeled_books_page(session, offset=params.offset, limit=params.size)
    total = repository.count_books(session)
    if with_target:
        return Page[TrainingRowRead].build([TrainingRowRead(**_row(i, True)) for i in items], total, params)
    return Page[FeatureRowRead].build([FeatureRowRead(**_row(i, False)) for i in items], total, params)


def csv_columns(with_target: bool) -> list[str]:
    return ["book_id", *FEATURE_COLUMNS, *([TARGET] if with_target else [])]


def stream_csv(factory: SessionFactory, *, with_target: bool, chunk_rows: int = CSV_CHUNK_ROWS) -> Iterator[str]:
    """The whole table as CSV text chunks: one read transaction, keyset pages of ``chunk_rows`` books."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_columns(with_target), lineterminator="\n")
    writer.writeheader()
    after = 0
    with factory() as session:
        while True:
            items = repository.labeled_books_after(session, after, chunk_rows)
            for item in items:
                writer.writerow(_row(item, with_target))
            chunk = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if chunk:
                yield chunk
            if len(items) < chunk_rows:
                return
            after = items[-1].book_id


# --- Training and the registry --------------------------------------------------------------------------------


def promotion_decision(candidate: TrainedModel, active: MLModelVersion | None) -> tuple[bool, str]:
    """The auto-promotion rule: a first version is promoted; later ones only with a strictly better held-out
    macro F1 than the active version's."""
    if active is None:
        return True, "no active version"
    if candidate.macro_f1 > active.macro_f1:
        return True, f"held-out macro F1 {candidate.macro_f1:.4f} > active v{active.version}'s {active.macro_f1:.4f}"
    return False, f"held-out macro F1 {candidate.macro_f1:.4f} <= active v{active.version}'s {active.macro_f1:.4f}"


def register(
    session: Session,
    result: TrainingResult,
    artifacts_dir: Path,
    *,
    job_id: str | None,
    auto_promote: bool,
) -> dict[str, dict[str, Any]]:
    """Save each trained model as the next version of its name; promote it when the rule says so."""
    summary: dict[str, dict[str, Any]] = {}
    for model in result.models:
        number = repository.next_version(session, model.name)
        saved = registry.save(model.pipeline, artifacts_dir, model.name, number)
        row = repository.add_version(
            session,
            MLModelVersion(
                name=model.name,
                version=number,
                macro_f1=model.macro_f1,
                accuracy=model.accuracy,
                metrics={**model.metrics, "artifact_bytes": saved.size},
                artifact_path=saved.path,
                artifact_sha256=saved.sha256,
                sklearn_version=sklearn.__version__,
                is_active=False,
                training_job_id=job_id,
            ),
        )
        promoted, reason = False, "auto-promotion is off"
        if auto_promote:
            promoted, reason = promotion_decision(model, repository.active_version(session, model.name))
            if promoted:
                repository.set_active(session, row, utcnow())
        summary[model.name] = {
            "version": number,
            "accuracy": model.accuracy,
            "macro_f1": model.macro_f1,
            "cv_macro_f1": model.metrics["cross_validation"].get("mean"),
            "beats_baseline": model.metrics["beats_baseline"],
            "beats_chance": model.metrics["beats_chance"],
            "accuracy_p_value": model.metrics["accuracy_p_value"],
            "training_seconds": model.metrics["training_seconds"],
            "promoted": promoted,
            "promotion": reason,
        }
    return summary


def run_training(
    factory: SessionFactory,
    settings: Settings,
    config: TrainingConfig,
    *,
    auto_promote: bool | None = None,
    job_id: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """The ``ml.train`` job: read the catalogue, train, register (and maybe promote) one version per model."""
    with factory() as session:
        rows = repository.labeled_books(session)
    result = train(rows, config, progress)
    promote = settings.ml.auto_promote if auto_promote is None else auto_promote
    with session_scope(factory) as session:
        models = register(session, result, settings.ml.artifacts_dir, job_id=job_id, auto_promote=promote)
    log.info("ml.trained", rows=result.data["rows"], seconds=result.seconds, models=models)
    return {
        "rows": result.data["rows"],
        "data_sha256": result.data["sha256"],
        "seconds": result.seconds,
        "baseline": result.baseline,
        "chance": result.models[0].metrics["chance"] if result.models else None,
        "models": models,
    }


def get_version(session: Session, name: str, version: int) -> MLModelVersion:
    row = repository.get_version(session, name, version)
    if row is None:
        raise NotFound(f"{name} has no version {version}")
    return row


def promote(session: Session, name: str, version: int, artifacts_dir: Path) -> MLModelVersion:
    """Make ``version`` the active one (rollback is promoting an older version). Refuses a version that cannot
    be loaded here, so no process is asked to serve something it would refuse."""
    row = get_version(session, name, version)
    if row.is_active:
        return row
    try:
        load_version(row, artifacts_dir)
    except registry.ArtifactError as exc:
        log.error("ml.promote.refused", model=name, version=version, reason=str(exc))
        raise Conflict(f"cannot promote {name} v{version}: {exc}") from None
    repository.set_active(session, row, utcnow())
    session.refresh(row)
    log.info("ml.promoted", model=name, version=version)
    return row


def list_versions(session: Session, name: str | None, params: PageParams) -> tuple[list[MLModelVersion], int]:
    return repository.list_versions(session, name=name, offset=params.offset, limit=params.size)


def public_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics as listed by the API: the drift reference profile is internal."""
    return {key: value for key, value in metrics.items() if key != "profile"}


# --- Serving --------------------------------------------------------------------------------------------------


def resolve_model(holder: ModelHolder, name: str | None) -> LoadedModel:
    if name is None:
        best = champion(holder.models())
        if best is None:
            raise NotFound("no model is active yet: train one (POST /api/v1/ml/train) and promote it")
        return best
    model = holder.get(name)
    if model is not None:
        return model
    failure = next((e for e in holder.errors() if e.name == name), None)
    if failure is not None:
        raise Conflict(f"active version v{failure.version} of {name} could not be loaded: {failure.error}")
    raise NotFound(
        f"{name} has no active version: train it or promote a version (POST /api/v1/ml/models/{name}/promote)"
    )


def _inputs(model: LoadedModel, items: Sequence[BookFeaturesIn], batch: bool) -> list[BookInput]:
    books: list[BookInput] = []
    unknown: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        category = canonical_category(model, item.category)
        if category is None:
            loc: list[Any] = ["body", index, "category"] if batch else ["body", "category"]
            unknown.append({"loc": loc, "msg": f"unknown category {item.category!r}", "type": "unknown_category"})
            continue
        books.append(BookInput(item.title, item.price, category, item.availability, item.description))
    if unknown:
        raise Unprocessable(
            {"errors": unknown[:20], "known_categories": sorted(model.categories.values()), "model": model.name}
        )
    return books


def serve_predictions(
    holder: ModelHolder,
    buffer: PredictionLogBuffer,
    name: str | None,
    body: BookFeaturesIn | list[BookFeaturesIn],
    batcher: PredictionBatcher | None = None,
) -> PredictionOut | BatchPredictionOut:
    model = resolve_model(holder, name)  # one model object for the whole request, whatever swaps meanwhile
    batch = isinstance(body, list)
    items = body if isinstance(body, list) else [body]
    predictions, rows = predict(model, _inputs(model, items, batch), batcher)
    buffer.offer(model, rows, predictions)
    if not batch:
        p = predictions[0]
        return PredictionOut(
            model=model.name, version=model.version, predicted_rating=p.rating, probabilities=p.probabilities
        )
    return BatchPredictionOut(
        model=model.name,
        version=model.version,
        count=len(predictions),
        predictions=[PredictionItem(predicted_rating=p.rating, probabilities=p.probabilities) for p in predictions],
    )


def cache_status(holder: ModelHolder, buffer: PredictionLogBuffer, settings: Settings) -> CacheStatus:
    models = sorted(holder.models().values(), key=lambda m: (-m.macro_f1, m.name))
    return CacheStatus(
        pid=os.getpid(),
        models=[
            LoadedModelRead(
                name=m.name,
                version=m.version,
                artifact_sha256=m.sha256,
                loaded_at=m.loaded_at,
                accuracy=m.metrics["held_out"]["accuracy"],
                macro_f1=m.metrics["held_out"]["macro_f1"],
                baseline_accuracy=m.metrics["baseline"]["accuracy"],
                baseline_macro_f1=m.metrics["baseline"]["macro_f1"],
                cv_macro_f1=m.metrics.get("cross_validation", {}).get("mean"),
                chance_accuracy=m.metrics.get("chance", {}).get("accuracy"),
                chance_macro_f1=m.metrics.get("chance", {}).get("macro_f1"),
                beats_baseline=bool(m.metrics.get("beats_baseline")),
                beats_chance=bool(m.metrics.get("beats_chance")),
                accuracy_p_value=m.metrics.get("accuracy_p_value"),
                training_rows=int(m.metrics["data"]["train_rows"]),
                fast_path=m.fast_path,
            )
            for m in models
        ],
        errors=[LoadErrorRead(name=e.name, version=e.version, error=e.error, at=e.at) for e in holder.errors()],
        last_sync_at=holder.last_sync_at,
        reload_interval_seconds=settings.ml.reload_interval_seconds,
        pending_prediction_logs=len(buffer),
    )


def drift_report(session: Session, name: str, *, hours: float, limit: int) -> DriftReport:
    active = repository.active_version(session, name)
    if active is None:
        raise NotFound(f"{name} has no active version")
    profile = active.metrics.get("profile")
    if not profile:
        raise Conflict(f"{name} v{active.version} has no training profile; retrain it")
    since = utcnow() - timedelta(hours=hours)
    logs = repository.recent_prediction_logs(session, name=name, since=since, limit=limit)
    samples = [features for _, features, _ in logs]
    return DriftReport(
        model=name,
        active_version=active.version,
        compared_versions=sorted({version for version, _, _ in logs}),
        window_hours=hours,
        samples=len(logs),
        enough_samples=len(logs) >= drift.MIN_SAMPLES,
        numeric=drift.numeric_drift(profile, samples),
        category=drift.distribution_drift(profile["category"], [str(s.get("category", "")) for s in samples]),
        predictions=drift.distribution_drift(profile["labels"], [str(p) for _, _, p in logs]),
        thresholds={"moderate": drift.MODERATE, "significant": drift.SIGNIFICANT, "min_samples": drift.MIN_SAMPLES},
    )
