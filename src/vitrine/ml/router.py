"""ML API: feature tables, training jobs, the model registry, predictions, drift.

Access: every route needs an authenticated user (the feature exports and predictions cost CPU); training and
promotion need an administrator.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from vitrine.auth.audit import record, request_meta
from vitrine.auth.deps import AdminUser, CurrentUser
from vitrine.deps import SessionDep, SessionFactoryDep, SettingsDep
from vitrine.errors import Conflict, error_responses
from vitrine.jobs import service as jobs
from vitrine.jobs.schemas import JobAccepted, JobStatus
from vitrine.jobs.service import JobConflict
from vitrine.kit.pagination import PageDep
from vitrine.ml import service
from vitrine.ml.install import ml_state
from vitrine.ml.schemas import (
    BatchPredictionOut,
    CacheStatus,
    DriftReport,
    FeaturePage,
    ModelName,
    ModelVersionPage,
    ModelVersionRead,
    PredictionBody,
    PredictionOut,
    PromoteIn,
    TrainIn,
    TrainingPage,
)
from vitrine.ml.tasks import TRAIN_KIND
from vitrine.models.ml_model_version import MLModelVersion

router = APIRouter(prefix="/ml", tags=["ml"])

TRAIN_DEDUPE_KEY = "ml.train"
_CSV_DOC = "JSON page, or the whole table as CSV with format=csv"
_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}, "description": _CSV_DOC}}


class TableFormat(StrEnum):
    json = "json"
    csv = "csv"


FormatQ = Annotated[TableFormat, Query(alias="format", description="json (paginated) or csv (whole table, streamed)")]


def _table(
    factory: SessionFactoryDep, session: SessionDep, page: PageDep, fmt: TableFormat, *, with_target: bool
) -> Any:
    if fmt is TableFormat.csv:
        name = "training-data.csv" if with_target else "features.csv"
        return StreamingResponse(
            service.stream_csv(factory, with_target=with_target),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return service.feature_page(session, page, with_target=with_target)


@router.get("/features", response_model=FeaturePage, responses={**_CSV, **error_responses(401, 422)})
def get_features(
    factory: SessionFactoryDep, session: SessionDep, user: CurrentUser, page: PageDep, fmt: FormatQ = TableFormat.json
) -> Any:
    """The model inputs of every book (no rating), in book-id order. Text columns are TF-IDF-encoded inside each
    model's pipeline."""
    return _table(factory, session, page, fmt, with_target=False)


@router.get("/training-data", response_model=TrainingPage, responses={**_CSV, **error_responses(401, 422)})
def get_training_data(
    factory: SessionFactoryDep, session: SessionDep, user: CurrentUser, page: PageDep, fmt: FormatQ = TableFormat.json
) -> Any:
    """The feature table plus the target (`rating`)."""
    return _table(factory, session, page, fmt, with_target=True)


@router.post(
    "/train",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=error_responses(401, 403, 409, 422),
)
def train_models(
    request: Request,
    response: Response,
    session: SessionDep,
    admin: AdminUser,
    body: Annotated[TrainIn | None, Body()] = None,
) -> JobAccepted:
    """Train the models on the current catalogue as a job (admin). 409 while a training job is queued or running."""
    params = (body or TrainIn()).model_dump(mode="json", exclude_none=True)
    try:
        job = jobs.enqueue(session, TRAIN_KIND, params, requested_by=admin.id, dedupe_key=TRAIN_DEDUPE_KEY)
    except JobConflict as exc:
        url = str(request.url_for("get_job", job_id=exc.job_id).path)
        raise Conflict(
            {"message": "A training job is already queued or running", "job_id": exc.job_id, "status_url": url}
        ) from None
    record(
        session, action="ml.train.requested", actor_id=admin.id, target=job.id, detail=params, **request_meta(request)
    )
    url = request.url_for("get_job", job_id=job.id).path
    response.headers["Location"] = url
    return JobAccepted(job_id=job.id, status=JobStatus(job.status), status_url=url)


def _read(row: MLModelVersion) -> ModelVersionRead:
    read = ModelVersionRead.model_validate(row)
    read.metrics = service.public_metrics(row.metrics)
    return read


@router.get("/models", response_model=ModelVersionPage, responses=error_responses(401, 422))
def list_models(
    session: SessionDep, user: CurrentUser, page: PageDep, name: Annotated[ModelName | None, Query()] = None
) -> ModelVersionPage:
    """Every registered version with its metrics (newest first per model), and which one is active."""
    rows, total = service.list_versions(session, name.value if name else None, page)
    return ModelVersionPage.build([_read(r) for r in rows], total, page)


@router.post(
    "/models/{name}/promote", response_model=ModelVersionRead, responses=error_responses(401, 403, 404, 409, 422)
)
def promote_model(
    request: Request, name: ModelName, body: PromoteIn, session: SessionDep, settings: SettingsDep, admin: AdminUser
) -> ModelVersionRead:
    """Make a version the active one (admin); promoting an older version is the rollback. Every API process
    serves it within a reload interval. 409 when the version cannot be loaded by this scikit-learn."""
    row = service.promote(session, name.value, body.version, settings.ml.artifacts_dir)
    record(
        session,
        action="ml.model.promoted",
        actor_id=admin.id,
        target=f"{row.name}:v{row.version}",
        **request_meta(request),
    )
    return _read(row)


@router.post(
    "/predictions",
    response_model=PredictionOut | BatchPredictionOut,
    responses=error_responses(401, 404, 409, 422),
)
def create_predictions(
    request: Request,
    user: CurrentUser,
    body: Annotated[PredictionBody, Body()],
    model: Annotated[ModelName | None, Query(description="Default: the loaded model with the best macro F1")] = None,
) -> PredictionOut | BatchPredictionOut:
    """Predict the rating of one book (a JSON object) or of up to 1000 (a JSON array)."""
    state = ml_state(request.app)
    return service.serve_predictions(state.holder, state.buffer, model.value if model else None, body, state.batcher)


@router.get("/cache-status", response_model=CacheStatus, responses=error_responses(401))
def cache_status(request: Request, user: CurrentUser, settings: SettingsDep) -> CacheStatus:
    """The models loaded in the process that answers, their versions and metrics (the leaderboard)."""
    state = ml_state(request.app)
    return service.cache_status(state.holder, state.buffer, settings)


@router.get("/drift", response_model=DriftReport, responses=error_responses(401, 404, 409, 422))
def get_drift(
    session: SessionDep,
    user: CurrentUser,
    model: Annotated[ModelName, Query()] = ModelName.random_forest,
    hours: Annotated[float, Query(gt=0, le=24 * 90)] = 24.0,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5000,
) -> DriftReport:
    """Sampled recent prediction inputs and outputs compared with the active version's training data (PSI)."""
    return service.drift_report(session, model.value, hours=hours, limit=limit)
