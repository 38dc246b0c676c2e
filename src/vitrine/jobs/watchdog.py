"""Find jobs whose worker died (no heartbeat for ``heartbeat_timeout_seconds``): retry them or mark them failed.

Safe to run from several processes at once: giving up a job is one conditional UPDATE that also requires the
heartbeat to still be stale, so a job that beats again in between is left alone and no job is taken twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import structlog

from vitrine.config import Settings
from vitrine.db import SessionFactory, session_scope
from vitrine.jobs import repository
from vitrine.kit.clock import utcnow

log = structlog.get_logger(__name__)


def recover_lost_jobs(
    factory: SessionFactory, settings: Settings, dispatch: Callable[[str], None] | None = None
) -> dict[str, str]:
    """Returns ``{job_id: "queued" | "failed"}`` for every job this call took over."""
    timeout = settings.jobs.heartbeat_timeout_seconds
    cutoff = utcnow() - timedelta(seconds=timeout)
    with session_scope(factory) as session:
        stale = repository.stale_running(session, cutoff)
    outcomes: dict[str, str] = {}
    for job in stale:
        retry = job.attempt < job.max_attempts
        error = f"worker lost: no heartbeat for {timeout:g}s during attempt {job.attempt}"
        with session_scope(factory) as session:
            taken = repository.give_up_lost(session, job, cutoff, retry=retry, error=error)
        if not taken:
            continue
        outcome = "queued" if retry else "failed"
        outcomes[job.id] = outcome
        log.warning("job lost its worker", job_id=job.id, job_kind=job.kind, attempt=job.attempt, outcome=outcome)
        if retry and dispatch is not None:
            try:
                dispatch(job.id)
            except Exception:
                log.exception("could not re-dispatch a recovered job", job_id=job.id)
        elif not retry:
            from vitrine.observability.metrics import JOBS

            JOBS.labels(kind=job.kind, status="failed").inc()
    return outcomes


def resubmit_orphans(
    factory: SessionFactory, settings: Settings, dispatch: Callable[[str], None], skip: set[str] | None = None
) -> list[str]:
    """Queued jobs older than the heartbeat timeout that no runner holds (e.g. queued by a process that then
    stopped): hand them to ``dispatch``. A job dispatched twice still runs once (the claim is atomic)."""
    cutoff = utcnow() - timedelta(seconds=settings.jobs.heartbeat_timeout_seconds)
    with session_scope(factory) as session:
        orphans = [job_id for job_id in repository.queued_before(session, cutoff) if job_id not in (skip or set())]
    for job_id in orphans:
        dispatch(job_id)
    return orphans
