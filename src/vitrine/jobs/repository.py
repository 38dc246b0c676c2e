"""All SQL of the jobs domain. State changes are single conditional UPDATEs, so concurrent runners, watchdogs and
cancel requests never overwrite each other: whoever's WHERE clause still matches wins."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from vitrine.kit.clock import utcnow
from vitrine.models.job_run import ACTIVE_STATUSES, JobRun

# How many earlier runs of the same kind are inspected to find a checkpoint to resume from.
CHECKPOINT_LOOKBACK = 20


class Ownership(NamedTuple):
    owned: bool
    cancel_requested: bool


class StaleJob(NamedTuple):
    id: str
    kind: str
    attempt: int
    max_attempts: int


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def get(session: Session, job_id: str) -> JobRun | None:
    return session.get(JobRun, job_id)


def kind_of(session: Session, job_id: str) -> str | None:
    return session.scalar(select(JobRun.kind).where(JobRun.id == job_id))


def find_active(session: Session, dedupe_key: str) -> JobRun | None:
    stmt = select(JobRun).where(JobRun.dedupe_key == dedupe_key, JobRun.status.in_(ACTIVE_STATUSES))
    return session.scalars(stmt).first()


def find_scheduled(session: Session, kind: str, tick: datetime) -> JobRun | None:
    return session.scalars(select(JobRun).where(JobRun.kind == kind, JobRun.scheduled_for == tick)).first()


def list_jobs(
    session: Session, *, kind: str | None, status: str | None, offset: int, limit: int
) -> tuple[list[JobRun], int]:
    conds: list[ColumnElement[bool]] = []
    if kind is not None:
        conds.append(JobRun.kind == kind)
    if status is not None:
        conds.append(JobRun.status == status)
    total = session.scalar(select(func.count()).select_from(JobRun).where(*conds)) or 0
    stmt = select(JobRun).where(*conds).order_by(JobRun.created_at.desc(), JobRun.id).offset(offset).limit(limit)
    return list(session.scalars(stmt)), total


def _owned(job_id: str, attempt: int) -> ColumnElement[bool]:
    return and_(JobRun.id == job_id, JobRun.status == "running", JobRun.attempt == attempt)


def claim(session: Session, job_id: str, worker: str) -> int | None:
    """Move a queued job to running; returns the new attempt number, ``None`` if someone else got it first."""
    now = utcnow()
    stmt = (
        update(JobRun)
        .where(JobRun.id == job_id, JobRun.status == "queued", JobRun.cancel_requested.is_(False))
        .values(status="running", attempt=JobRun.attempt + 1, worker=worker[:200], started_at=now, heartbeat_at=now)
        .returning(JobRun.attempt)
    )
    attempt = session.execute(stmt).scalar_one_or_none()
    return int(attempt) if attempt is not None else None


def heartbeat(session: Session, job_id: str, attempt: int) -> Ownership:
    stmt = (
        update(JobRun).where(_owned(job_id, attempt)).values(heartbeat_at=utcnow()).returning(JobRun.cancel_requested)
    )
    cancel = session.execute(stmt).scalar_one_or_none()
    return Ownership(owned=cancel is not None, cancel_requested=bool(cancel))


def record_progress(
    session: Session, job_id: str, attempt: int, done: int, total: int | None, message: str
) -> Ownership:
    stmt = (
        update(JobRun)
        .where(_owned(job_id, attempt))
        .values(progress_done=done, progress_total=total, progress_message=message, heartbeat_at=utcnow())
        .returning(JobRun.cancel_requested)
    )
    cancel = session.execute(stmt).scalar_one_or_none()
    return Ownership(owned=cancel is not None, cancel_requested=bool(cancel))


def ownership(session: Session, job_id: str, attempt: int) -> Ownership:
    stmt = select(JobRun.status, JobRun.attempt, JobRun.cancel_requested).where(JobRun.id == job_id)
    row = session.execute(stmt).first()
    if row is None:
        return Ownership(owned=False, cancel_requested=False)
    return Ownership(owned=row.status == "running" and row.attempt == attempt, cancel_requested=row.cancel_requested)


def finish(
    session: Session,
    job_id: str,
    attempt: int,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    progress: tuple[int, int | None, str] | None = None,
) -> bool:
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "dedupe_key": None, "error": error}
    if result is not None:
        values["result"] = result
    if progress is not None:
        values.update(progress_done=progress[0], progress_total=progress[1], progress_message=progress[2])
    return _rowcount(session.execute(update(JobRun).where(_owned(job_id, attempt)).values(**values))) == 1


def requeue(session: Session, job_id: str, attempt: int, *, error: str | None, refund: bool = False) -> bool:
    """Give a running attempt back to the queue (``refund``: the attempt does not count, e.g. on shutdown)."""
    values: dict[str, Any] = {"status": "queued", "worker": None, "error": error}
    if refund:
        values["attempt"] = JobRun.attempt - 1
    return _rowcount(session.execute(update(JobRun).where(_owned(job_id, attempt)).values(**values))) == 1


def cancel_queued(session: Session, job_id: str) -> bool:
    stmt = (
        update(JobRun)
        .where(JobRun.id == job_id, JobRun.status == "queued")
        .values(status="cancelled", cancel_requested=True, finished_at=utcnow(), dedupe_key=None)
    )
    return _rowcount(session.execute(stmt)) == 1


def request_cancel(session: Session, job_id: str) -> bool:
    stmt = update(JobRun).where(JobRun.id == job_id, JobRun.status == "running").values(cancel_requested=True)
    return _rowcount(session.execute(stmt)) == 1


def stale_running(session: Session, cutoff: datetime) -> list[StaleJob]:
    """Running jobs whose last heartbeat is older than ``cutoff``."""
    stmt = select(JobRun.id, JobRun.kind, JobRun.attempt, JobRun.max_attempts).where(
        JobRun.status == "running", _heartbeat_older_than(cutoff)
    )
    return [StaleJob(*row) for row in session.execute(stmt)]


def _heartbeat_older_than(cutoff: datetime) -> ColumnElement[bool]:
    return or_(JobRun.heartbeat_at < cutoff, and_(JobRun.heartbeat_at.is_(None), JobRun.started_at < cutoff))


def give_up_lost(session: Session, job: StaleJob, cutoff: datetime, *, retry: bool, error: str) -> bool:
    """Fail or re-queue a job whose heartbeat stopped, unless it beat again since it was found stale."""
    cond = and_(_owned(job.id, job.attempt), _heartbeat_older_than(cutoff))
    values: dict[str, Any] = {"error": error, "worker": None}
    if retry:
        values["status"] = "queued"
    else:
        values.update(status="failed", finished_at=utcnow(), dedupe_key=None)
    return _rowcount(session.execute(update(JobRun).where(cond).values(**values))) == 1


def queued_before(session: Session, cutoff: datetime, limit: int = 100) -> list[str]:
    stmt = (
        select(JobRun.id)
        .where(JobRun.status == "queued", JobRun.created_at < cutoff)
        .order_by(JobRun.created_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def save_checkpoint(session: Session, job_id: str, data: dict[str, Any]) -> None:
    session.execute(update(JobRun).where(JobRun.id == job_id).values(checkpoint=data))


def load_checkpoint(session: Session, job_id: str) -> dict[str, Any]:
    job = session.get(JobRun, job_id)
    if job is None:
        return {}
    if job.checkpoint:
        return dict(job.checkpoint)
    earlier = session.scalars(
        select(JobRun)
        .where(JobRun.kind == job.kind, JobRun.created_at <= job.created_at, JobRun.id != job.id)
        .order_by(JobRun.created_at.desc())
        .limit(CHECKPOINT_LOOKBACK)
    )
    for run in earlier:
        if run.params != job.params:
            continue
        if run.status in ("failed", "cancelled") and run.checkpoint:
            return dict(run.checkpoint)
        if run.status == "succeeded":
            break  # the last run of these parameters completed: start afresh
    return {}


def delete_finished_before(session: Session, cutoff: datetime) -> int:
    stmt = delete(JobRun).where(JobRun.status.in_(("succeeded", "failed", "cancelled")), JobRun.finished_at < cutoff)
    return _rowcount(session.execute(stmt))
