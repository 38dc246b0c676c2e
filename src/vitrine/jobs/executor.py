"""Run one attempt of one job: claim it, beat its heart, call its function, record how it ended.

Every runner (in-process pool, Celery worker, ``run_inline``) goes through ``execute_job``, so the records, the
retries and the metrics are the same whatever runs the job.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import Token
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from vitrine.config import Settings
from vitrine.db import SessionFactory, session_scope
from vitrine.jobs import repository
from vitrine.jobs.registry import JobCancelled, JobContext, JobSpec, get_spec

log = structlog.get_logger(__name__)

Dispatch = Callable[[str], None]
MAX_ERROR_LENGTH = 2000


def is_connection_bound(factory: SessionFactory) -> bool:
    """A factory bound to one connection (the test suite's transaction) must not be used from other threads."""
    return isinstance(factory.kw.get("bind"), Connection)


def worker_name(prefix: str) -> str:
    return f"{prefix}@{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """A daemon thread that stamps ``heartbeat_at`` every ``interval`` seconds while the job runs."""

    def __init__(self, ctx: JobContext, interval: float) -> None:
        self._ctx = ctx
        self._interval = max(interval, 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"heartbeat:{ctx.job_id[:8]}")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with session_scope(self._ctx.factory) as session:
                    state = repository.heartbeat(session, self._ctx.job_id, self._ctx.attempt)
                self._ctx._apply_state(state)
            except Exception:  # a database hiccup must not kill the heartbeat; the next beat retries
                log.warning("job heartbeat failed", job_id=self._ctx.job_id, exc_info=True)


@contextlib.contextmanager
def _job_log_context(job_id: str, kind: str, request_id: str | None) -> Iterator[None]:
    """Bind the job (and the request that asked for it) to every log line and to the request-id context."""
    token: Token[Any] | None = None
    var: Any = None
    if request_id:
        try:
            var = importlib.import_module("vitrine.observability.context").request_id_var
            token = var.set(request_id)
        except (ModuleNotFoundError, AttributeError):
            var = None
    try:
        with structlog.contextvars.bound_contextvars(job_id=job_id, job_kind=kind, request_id=request_id):
            yield
    finally:
        if var is not None and token is not None:
            var.reset(token)


def _json_safe(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    safe: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return safe


def _observe(kind: str, status: str, seconds: float) -> None:
    from vitrine.observability.metrics import JOB_DURATION, JOBS

    JOBS.labels(kind=kind, status=status).inc()
    JOB_DURATION.labels(kind=kind, status=status).observe(seconds)


def execute_job(
    factory: SessionFactory,
    settings: Settings,
    job_id: str,
    *,
    worker: str,
    dispatch: Dispatch | None = None,
    stopping: threading.Event | None = None,
) -> str | None:
    """Run the job if it is still queued. Returns its status afterwards, ``None`` if this call did not run it."""
    with session_scope(factory) as session:
        kind = repository.kind_of(session, job_id)
    if kind is None:
        return None
    # Resolve the function (which may import heavy task modules) before claiming: once claimed, the heartbeat
    # must start at once or the watchdog could take a healthy job for a dead one.
    spec = get_spec(kind)
    with session_scope(factory) as session:
        attempt = repository.claim(session, job_id, worker)
        job = repository.get(session, job_id) if attempt is not None else None
    if attempt is None or job is None:
        log.debug("job not claimable", job_id=job_id)
        return None
    ctx = JobContext(
        job_id=job_id,
        kind=job.kind,
        params=dict(job.params or {}),
        settings=settings,
        factory=factory,
        attempt=attempt,
        live_updates=not is_connection_bound(factory),
    )
    if stopping is not None:
        ctx._stopping = stopping
    with _job_log_context(job_id, job.kind, job.request_id):
        return _run_attempt(ctx, spec, job.max_attempts, dispatch)


def _run_attempt(ctx: JobContext, spec: JobSpec | None, max_attempts: int, dispatch: Dispatch | None) -> str | None:
    started = time.monotonic()
    result: dict[str, Any] | None = None
    error: str | None = None
    log.info("job started", attempt=ctx.attempt)
    if spec is None:
        status, error = "failed", f"unknown job kind {ctx.kind!r}"
    else:
        beating = Heartbeat(ctx, ctx.settings.jobs.heartbeat_seconds) if ctx.live_updates else contextlib.nullcontext()
        with beating:
            try:
                result = _json_safe(spec.fn(ctx))
                # A job that saw should_cancel() say yes and returned stopped early: it did not complete.
                status = "cancelled" if ctx._cancel_seen else "succeeded"
            except JobCancelled:
                status = "cancelled"
            except Exception as exc:
                status, error = "failed", f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
                log.warning("job raised", attempt=ctx.attempt, exc_info=True)
    return _settle(ctx, status, result, error, max_attempts, dispatch, time.monotonic() - started)


def _settle(
    ctx: JobContext,
    status: str,
    result: dict[str, Any] | None,
    error: str | None,
    max_attempts: int,
    dispatch: Dispatch | None,
    seconds: float,
) -> str | None:
    shutting_down = ctx._stopping.is_set()
    with session_scope(ctx.factory) as session:
        if status == "cancelled" and shutting_down and not ctx._cancel_requested:
            # Stopped because this process is shutting down: hand it back, the attempt does not count.
            owned = repository.requeue(session, ctx.job_id, ctx.attempt, error=None, refund=True)
            final = "queued"
        elif status == "failed" and ctx.attempt < max_attempts:
            owned = repository.requeue(session, ctx.job_id, ctx.attempt, error=error)
            final = "queued"
        else:
            owned = repository.finish(
                session, ctx.job_id, ctx.attempt, status, result=result, error=error, progress=ctx.last_progress
            )
            final = status
    if not owned:
        log.warning("job attempt lost ownership; outcome discarded", attempt=ctx.attempt, outcome=status)
        return None
    log.info("job finished", attempt=ctx.attempt, status=final, seconds=round(seconds, 3), error=error)
    if final != "queued":
        _observe(ctx.kind, final, seconds)
    elif dispatch is not None and not shutting_down:
        dispatch(ctx.job_id)
    return final
