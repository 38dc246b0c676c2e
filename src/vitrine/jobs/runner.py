"""Runners: where a committed job goes to run. One interface, chosen by configuration (see ``build_runner``)."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Protocol

import structlog

from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.jobs.executor import execute_job, is_connection_bound, worker_name

log = structlog.get_logger(__name__)

# How long ``stop()`` waits for running jobs to reach a cancellation point before leaving them.
STOP_GRACE_SECONDS = 10.0


class Runner(Protocol):
    def submit(self, job_id: str) -> None:
        """Hand a committed, queued job over for running. Never raises for a job that is not runnable."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class InlineRunner:
    """Runs each job at once in the submitting thread.

    Used when the session factory is bound to a single connection (the test suite's transaction): a background
    thread must never share that connection with the request thread.
    """

    def __init__(self, factory: SessionFactory, settings: Settings) -> None:
        self.factory = factory
        self.settings = settings
        self._lock = threading.RLock()
        self._worker = worker_name("inline")

    def submit(self, job_id: str) -> None:
        with self._lock:
            try:
                execute_job(self.factory, self.settings, job_id, worker=self._worker, dispatch=self.submit)
            except Exception:
                log.exception("inline job run failed", job_id=job_id)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


class ThreadPoolRunner:
    """A bounded pool of threads inside this process (the single-process deployment)."""

    def __init__(self, factory: SessionFactory, settings: Settings, max_workers: int | None = None) -> None:
        self.factory = factory
        self.settings = settings
        self.max_workers = max(1, max_workers or settings.jobs.max_workers)
        self.stopping = threading.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._inflight: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._worker = worker_name("inprocess")

    def start(self) -> None:
        with self._lock:
            if self._executor is None:
                self.stopping.clear()
                self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="vitrine-job")

    def submit(self, job_id: str) -> None:
        with self._lock:
            if self._executor is None or self.stopping.is_set():
                log.info("runner not running; job stays queued for the next runner", job_id=job_id)
                return
            if job_id in self._inflight:
                return
            self._inflight[job_id] = self._executor.submit(self._run, job_id)

    def inflight(self) -> set[str]:
        with self._lock:
            return set(self._inflight)

    def _run(self, job_id: str) -> None:
        try:
            # Resubmission (a retry) happens from inside this call: leave the id in flight until it returns,
            # then hand the retry to a fresh slot.
            status = execute_job(self.factory, self.settings, job_id, worker=self._worker, stopping=self.stopping)
        except Exception:
            log.exception("job run failed outside the job function", job_id=job_id)
            status = None
        finally:
            with self._lock:
                self._inflight.pop(job_id, None)
        if status == "queued":
            self.submit(job_id)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
            self.stopping.set()
            futures = list(self._inflight.values())
        if executor is None:
            return
        executor.shutdown(wait=False, cancel_futures=True)
        _done, pending = wait(futures, timeout=grace)
        if pending:
            log.warning("jobs still running at shutdown; the watchdog will recover them", count=len(pending))


def build_runner(settings: Settings, factory: SessionFactory) -> Runner:
    """Celery when configured, else the in-process pool (inline for a connection-bound test factory)."""
    if settings.jobs.backend == "celery":
        if not settings.redis_url:
            raise ValueError("VITRINE_JOBS__BACKEND=celery needs VITRINE_REDIS_URL")
        from vitrine.jobs.celery_app import CeleryRunner

        return CeleryRunner(settings)
    if settings.jobs.backend != "inprocess":
        raise ValueError(f"unknown jobs backend {settings.jobs.backend!r} (inprocess | celery)")
    if is_connection_bound(factory):
        return InlineRunner(factory, settings)
    return ThreadPoolRunner(factory, settings)
