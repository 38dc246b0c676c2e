"""Model registry: one row per trained model version; the artifact lives under ``Settings.ml.artifacts_dir``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column

from vitrine.db import Base
from vitrine.kit.clock import utcnow
from vitrine.models.types import UTCDateTime


class MLModelVersion(Base):
    __tablename__ = "ml_model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    # Held-out scores, denormalised from ``metrics`` so listing and promotion rules need no JSON parsing.
    macro_f1: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Relative to the artifacts directory, so processes that mount it at different paths agree.
    artifact_path: Mapped[str] = mapped_column(String(500))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    sklearn_version: Mapped[str] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    training_job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_ml_model_versions_name_version"),
        # At most one active version per model name, enforced by the database on both dialects.
        Index(
            "uq_ml_model_versions_active_name",
            "name",
            unique=True,
            sqlite_where=is_active == true(),
            postgresql_where=is_active == true(),
        ),
    )
