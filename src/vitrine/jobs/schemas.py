"""Job records as the API shows them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vitrine.kit.pagination import Page


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    status: JobStatus
    progress_done: int = 0
    progress_total: int | None = None
    progress_message: str = ""
    result: dict[str, Any] | None = None
    error: str | None = None
    requested_by: int | None = None
    request_id: str | None = None
    attempt: int = 0
    max_attempts: int = 1
    worker: str | None = None
    cancel_requested: bool = False
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    scheduled_for: datetime | None = None


class JobPage(Page[JobRead]):
    pass


class JobAccepted(BaseModel):
    """Answer to a request that started a job: follow it at ``status_url``."""

    job_id: str
    status: JobStatus
    status_url: str
