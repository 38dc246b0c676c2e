"""Job entry points of the ML domain."""

from __future__ import annotations

from typing import Any

from vitrine.jobs.registry import JobCancelled, JobContext, job
from vitrine.ml.names import MODEL_NAMES
from vitrine.ml.training import TrainingConfig

TRAIN_KIND = "ml.train"
PRUNE_KIND = "ml.prune_prediction_logs"


def config_from_params(params: dict[str, Any], n_jobs: int = 2) -> TrainingConfig:
    return TrainingConfig(
        models=tuple(params.get("models") or MODEL_NAMES),
        seed=int(params.get("seed", 42)),
        test_size=float(params.get("test_size", 0.2)),
        cv_folds=int(params.get("cv_folds", 5)),
        n_jobs=n_jobs,
    )


@job(TRAIN_KIND)
def train(ctx: JobContext) -> dict[str, Any]:
    """Train every requested model on the catalogue, register the versions, auto-promote by the rule."""
    from vitrine.ml.service import run_training

    def progress(done: int, total: int, message: str) -> None:
        if ctx.should_cancel():
            raise JobCancelled()
        ctx.progress(done, total, message)

    config = config_from_params(ctx.params, n_jobs=ctx.settings.ml.train_n_jobs)
    return run_training(
        ctx.factory,
        ctx.settings,
        config,
        auto_promote=ctx.params.get("auto_promote"),
        job_id=ctx.job_id,
        progress=progress,
    )


@job(PRUNE_KIND)
def prune_prediction_logs(ctx: JobContext) -> dict[str, Any]:
    """Delete sampled prediction logs older than ``params.days`` (default: the jobs retention setting)."""
    from datetime import timedelta

    from vitrine.db import session_scope
    from vitrine.kit.clock import utcnow
    from vitrine.ml.repository import delete_prediction_logs_before

    days = int(ctx.params.get("days", ctx.settings.jobs.retention_days))
    with session_scope(ctx.factory) as session:
        deleted = delete_prediction_logs_before(session, utcnow() - timedelta(days=days))
    return {"deleted": deleted, "days": days}
