"""A sample of served predictions (inputs as model features, output), kept for drift monitoring."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from vitrine.db import Base
from vitrine.kit.clock import utcnow
from vitrine.models.types import UTCDateTime


class MLPredictionLog(Base):
    __tablename__ = "ml_prediction_logs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[int] = mapped_column(Integer)
    # Scalar features and the category; the raw title and description are not kept.
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    predicted_rating: Mapped[int] = mapped_column(SmallInteger)
    confidence: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        Index("ix_ml_prediction_logs_model_name_created_at", "model_name", "created_at"),
        Index("ix_ml_prediction_logs_created_at", "created_at"),  # retention deletes
    )
