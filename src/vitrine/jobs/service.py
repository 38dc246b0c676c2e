"""Jobs: create (dispatched only after the caller's transaction commits), read, cancel, run inline.

The runner that receives committed jobs travels in ``session.info`` (``attach_runner`` puts it into a session
factory's defaults); sessions without one fall back to ``set_default_runner``'s, then leave the job queued for a
runner's sweep to find.
"""

from __future__ import annotations

import importlib
import threading
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from vitrine.config import Settings
from vitrine.db import SessionFactory, session_scope
from vitrine.errors import Conflict, NotFound
from vitrine.jobs import repository
from vitrine.jobs.executor import execute_job, worker_name
from vitrine.jobs.registry import get_spec
from vitrine.jobs.runner import Runner
from vitrine.models.job_run import JobRun

log = structlog.get_logger(__name__)

PENDING_KEY = "vitrine.jobs.pending"
RUNNER_KEY = "vitrine.jobs.runner"

_default_runner: Runner | None = None
_default_lock = threading.Lock()


class JobConflict(Conflict):
    """An equivalent job is already queued or running."""

    def __init__(self, job: JobRun, message: str = "An equivalent job is already queued or running") -> None:
        super().__init__({"message": message, "job_id": job.id, "status": job.status})
        self.job_id = job.id


def attach_runner(factory: SessionFactory, runner: Runner) -> None:
    """Sessions from ``factory`` hand their committed jobs to ``runner``."""
    info = dict(factory.kw.get("info") or {})
    info[RUNNER_KEY] = runner
    factory.configure(info=info)


def set_default_runner(runner: Runner | None) -> None:
    global _default_runner
    with _default_lock:
        _default_runner = runner


def _current_request_id() -> str | None:
    try:
        var = importlib.import_module("vitrine.observability.context").request_id_var
    except (ModuleNotFoundError, AttributeError):
        return None
    value = var.get(None)
    return str(value)[:64] if value else None


def enqueue(
    session: Session,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    requested_by: int | None = None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
    scheduled_for: datetime | None = None,
) -> JobRun:
    """Create a queued job; it is sent to the runner when ``session`` commits and dropped if it rolls back.

    With ``dedupe_key``, raises ``JobConflict`` while another job with that key is queued or running.
    """
    spec = get_spec(kind)
    if spec is None:
        raise NotFound(f"Unknown job kind {kind!r}")
    if dedupe_key is not None:
        active = repository.find_active(session, dedupe_key)
        if active is not None:
            raise JobConflict(active)
    job = JobRun(
        kind=kind,
        params=dict(params or {}),
        status="queued",
        requested_by=requested_by,
        dedupe_key=dedupe_key,
        max_attempts=max_attempts or spec.max_attempts,
        scheduled_for=scheduled_for,
        request_id=_current_request_id(),
        attempt=0,
        progress_done=0,
        progress_message="",
        cancel_requested=False,
    )
    session.add(job)
    session.flush()
    session.info.setdefault(PENDING_KEY, []).append(job.id)
    return job


def get_job(session: Session, job_id: str) -> JobRun | None:
    return repository.get(session, job_id)


def list_jobs(
    session: Session, *, kind: str | None = None, status: str | None = None, offset: int = 0, limit: int = 20
) -> tuple[list[JobRun], int]:
    return repository.list_jobs(session, kind=kind, status=status, offset=offset, limit=limit)


def cancel_job(session: Session, job_id: str) -> JobRun:
    """Cancel a queued job at once; ask a running one to stop at its next check. 409 once it has finished."""
    if repository.cancel_queued(session, job_id) or repository.request_cancel(session, job_id):
        session.expire_all()
        job = repository.get(session, job_id)
        assert job is not None
        return job
    job = repository.get(session, job_id)
    if job is None:
        raise NotFound("Job not found")
    raise Conflict({"message": f"The job has already finished ({job.status})", "job_id": job.id, "status": job.status})


def run_inline(
    factory: SessionFactory,
    settings: Settings,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    requested_by: int | None = None,
) -> JobRun:
    """Create the job and run it now in this thread (CLI, tests); same records as a runner would write."""
    with session_scope(factory) as session:
        session.info[RUNNER_KEY] = _NoDispatch()
        job_id = enqueue(session, kind, params, requested_by=requested_by).id
    while True:
        status = execute_job(factory, settings, job_id, worker=worker_name("inline"))
        if status != "queued":
            break
    with session_scope(factory) as session:
        job = repository.get(session, job_id)
        assert job is not None
        return job


class _NoDispatch:
    def submit(self, job_id: str) -> None:
        return None

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def _runner_for(session: Session) -> Runner | None:
    runner = session.info.get(RUNNER_KEY)
    if runner is not None:
        return runner  # type: ignore[no-any-return]
    return _default_runner


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session: Session) -> None:
    pending: list[str] | None = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    runner = _runner_for(session)
    if runner is None:
        log.info("no job runner in this process; jobs stay queued for a runner's sweep", jobs=pending)
        return
    for job_id in pending:
        try:
            runner.submit(job_id)
        except Exception:  # the job stays queued; a sweep or a later retry dispatches it
            log.exception("could not dispatch job", job_id=job_id)


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(PENDING_KEY, None)
