"""Job records: read one (the requester or an admin), list (admin), cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.orm import Session

from vitrine.auth.audit import record, request_meta
from vitrine.auth.deps import AdminUser, CurrentUser
from vitrine.deps import SessionDep
from vitrine.errors import NotFound, error_responses
from vitrine.jobs import service
from vitrine.jobs.schemas import JobPage, JobRead, JobStatus
from vitrine.kit.pagination import PageDep
from vitrine.models.job_run import JobRun
from vitrine.models.user import User

router = APIRouter(tags=["jobs"])

KindQuery = Query(min_length=1, max_length=100, description="Job kind, e.g. scraping.crawl_books")
JobId = Annotated[str, Path(min_length=1, max_length=64, description="Job id")]


def visible_job(session: Session, job_id: str, user: User) -> JobRun:
    """The job if ``user`` may see it; 404 otherwise, so ids of other users' jobs reveal nothing."""
    job = service.get_job(session, job_id)
    if job is None or not (user.is_admin or job.requested_by == user.id):
        raise NotFound("Job not found")
    return job


@router.get("/jobs/{job_id}", response_model=JobRead, responses=error_responses(401, 404, 422))
def get_job(job_id: JobId, session: SessionDep, user: CurrentUser) -> JobRun:
    """A job's status, progress, result and error (the user who asked for it, or an admin)."""
    return visible_job(session, job_id, user)


@router.get("/jobs", response_model=JobPage, responses=error_responses(401, 403, 422))
def list_jobs(
    session: SessionDep,
    _admin: AdminUser,
    page: PageDep,
    kind: Annotated[str | None, KindQuery] = None,
    status: JobStatus | None = None,
) -> JobPage:
    """All jobs, newest first (admin)."""
    items, total = service.list_jobs(
        session, kind=kind, status=status.value if status else None, offset=page.offset, limit=page.size
    )
    return JobPage.build([JobRead.model_validate(item) for item in items], total, page)


@router.post("/jobs/{job_id}/cancel", response_model=JobRead, responses=error_responses(401, 404, 409, 422))
def cancel_job(request: Request, job_id: JobId, session: SessionDep, user: CurrentUser) -> JobRun:
    """Cancel a job (the requester or an admin): a queued job is cancelled at once, a running one stops at its
    next checkpoint (``cancel_requested`` is true until it does). 409 once it has finished."""
    visible_job(session, job_id, user)
    job = service.cancel_job(session, job_id)
    record(session, action="jobs.cancelled", actor_id=user.id, target=f"job:{job_id}", **request_meta(request))
    return job
