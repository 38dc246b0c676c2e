"""Start a crawl of the books site as a job, and follow it (the older contract's status route)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Request, Response, status
from pydantic import AnyHttpUrl, BaseModel, Field

from vitrine.auth.audit import record, request_meta
from vitrine.auth.deps import AdminUser, CurrentUser
from vitrine.deps import SessionDep
from vitrine.errors import Conflict, error_responses
from vitrine.jobs import service as jobs
from vitrine.jobs.router import visible_job
from vitrine.jobs.schemas import JobAccepted, JobRead, JobStatus
from vitrine.jobs.service import JobConflict
from vitrine.models.job_run import JobRun

router = APIRouter(tags=["scraping"])

CRAWL_KIND = "scraping.crawl_books"
# One crawl at a time: the key is held while a crawl is queued or running.
CRAWL_DEDUPE_KEY = "scraping.crawl_books"


class CrawlRequest(BaseModel):
    base_url: AnyHttpUrl | None = Field(default=None, description="Site to crawl (http or https); default: settings")
    concurrency: int | None = Field(default=None, ge=1, le=64, description="Parallel requests; default: settings")


def status_path(request: Request, job_id: str) -> str:
    return request.url_for("get_job", job_id=job_id).path


@router.post(
    "/scraping/trigger",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses=error_responses(401, 403, 409, 422),
)
def trigger_crawl(
    request: Request,
    response: Response,
    session: SessionDep,
    admin: AdminUser,
    body: Annotated[CrawlRequest | None, Body()] = None,
) -> JobAccepted:
    """Start a crawl (admin). 202 with the job to follow; 409 with the active crawl's id if one is queued or
    running."""
    params: dict[str, object] = {}
    if body is not None:
        if body.base_url is not None:
            params["base_url"] = str(body.base_url)
        if body.concurrency is not None:
            params["concurrency"] = body.concurrency
    try:
        job = jobs.enqueue(session, CRAWL_KIND, params, requested_by=admin.id, dedupe_key=CRAWL_DEDUPE_KEY)
    except JobConflict as exc:
        raise Conflict(
            {
                "message": "A crawl is already queued or running",
                "job_id": exc.job_id,
                "status_url": status_path(request, exc.job_id),
            }
        ) from None
    record(
        session,
        action="admin.scraping.triggered",
        actor_id=admin.id,
        target=f"job:{job.id}",
        detail=params or None,
        **request_meta(request),
    )
    url = status_path(request, job.id)
    response.headers["Location"] = url
    return JobAccepted(job_id=job.id, status=JobStatus(job.status), status_url=url)


@router.get("/scraping/status/{job_id}", response_model=JobRead, responses=error_responses(401, 404, 422))
def crawl_status(
    job_id: Annotated[str, Path(min_length=1, max_length=64)], session: SessionDep, user: CurrentUser
) -> JobRun:
    """Alias of ``GET /api/v1/jobs/{job_id}`` for clients of the older contract."""
    return visible_job(session, job_id, user)
