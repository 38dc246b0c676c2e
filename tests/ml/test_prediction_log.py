"""The sampled prediction log: sampling, bounded buffer, batched writes, retention."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.jobs.service import run_inline
from vitrine.kit.clock import utcnow
from vitrine.ml import repository
from vitrine.ml.predict import Prediction, PredictionLogBuffer
from vitrine.ml.tasks import PRUNE_KIND
from vitrine.models.ml_prediction_log import MLPredictionLog

MODEL: Any = SimpleNamespace(name="random_forest", version=3)
ROW = {"price": 10.0, "availability": 1, "in_stock": 1, "title_chars": 5, "title_words": 1, "description_chars": 0}
ROW |= {"description_words": 0, "description_sentences": 0, "category": "Poetry", "title": "x", "description": ""}
PREDICTION = Prediction(rating=4, probabilities={"4": 1.0}, confidence=0.9)


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(MLPredictionLog)) or 0)


def test_sampling_rate_and_bounded_buffer(session: Session, session_factory: SessionFactory) -> None:
    none = PredictionLogBuffer(0.0)
    none.offer(MODEL, [ROW] * 100, [PREDICTION] * 100)
    assert len(none) == 0

    some = PredictionLogBuffer(0.1, seed=1)
    some.offer(MODEL, [ROW] * 1000, [PREDICTION] * 1000)
    assert 60 <= len(some) <= 140

    bounded = PredictionLogBuffer(1.0, max_pending=50)
    bounded.offer(MODEL, [ROW] * 80, [PREDICTION] * 80)
    assert len(bounded) == 50 and bounded.dropped == 30
    assert bounded.flush(session_factory) == 50
    assert len(bounded) == 0 and bounded.flush(session_factory) == 0
    [log] = session.scalars(select(MLPredictionLog).limit(1)).all()
    assert log.model_name == "random_forest" and log.model_version == 3 and log.predicted_rating == 4
    assert "title" not in log.features and log.features["category"] == "Poetry"


def test_old_logs_are_pruned(session: Session, session_factory: SessionFactory, settings: Settings) -> None:
    now = utcnow()
    entry = {"model_name": "svm", "model_version": 1, "features": {}, "predicted_rating": 2, "confidence": 0.5}
    repository.insert_prediction_logs(
        session, [{**entry, "created_at": now - timedelta(days=40)}, {**entry, "created_at": now}]
    )
    session.commit()
    job = run_inline(session_factory, settings, PRUNE_KIND, {"days": 30})
    assert job.status == "succeeded", job.error
    assert job.result == {"deleted": 1, "days": 30}
    assert _count(session) == 1
