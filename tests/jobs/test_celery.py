"""The Celery back end for real: ``vitrine worker`` processes on the real Redis, the API sending jobs to them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from tests.jobs.conftest import SECRET, add_user, auth_headers, finished, job_record, wait_for

from vitrine.config import Settings
from vitrine.db import Base, SessionFactory, session_scope
from vitrine.jobs.beat import LeaderLock, run_beat
from vitrine.jobs.celery_app import CeleryRunner
from vitrine.jobs.runner import ThreadPoolRunner
from vitrine.jobs.service import attach_runner, enqueue
from vitrine.kit.clock import utcnow
from vitrine.main import create_app
from vitrine.models.job_run import JobRun
from vitrine.models.scrape_run import ScrapeRun

VITRINE = str(Path(sys.executable).parent / "vitrine")
WORKER_START_TIMEOUT = 60.0

StartWorker = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def celery_settings(bg_settings: Settings, redis_url: str, queue: str) -> Settings:
    jobs = bg_settings.jobs.model_copy(update={"backend": "celery", "queue": queue})
    return bg_settings.model_copy(update={"redis_url": redis_url, "jobs": jobs})


def worker_env(settings: Settings, queue: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VITRINE_")}
    env.update(
        {
            "VITRINE_ENV": "test",
            "VITRINE_SECRET_KEY": SECRET,
            "VITRINE_DATABASE_URL": settings.database_url,
            "VITRINE_REDIS_URL": str(settings.redis_url),
            "VITRINE_JOBS__BACKEND": "celery",
            "VITRINE_JOBS__QUEUE": queue,
            "VITRINE_JOBS__HEARTBEAT_SECONDS": str(settings.jobs.heartbeat_seconds),
            "VITRINE_JOBS__HEARTBEAT_TIMEOUT_SECONDS": str(settings.jobs.heartbeat_timeout_seconds),
            "VITRINE_JOBS__CLEANUP_SCHEDULE": "",
            "VITRINE_SCRAPING__RESPECT_ROBOTS_TXT": "false",
            "VITRINE_OBSERVABILITY__REQUEST_LOG": "false",
        }
    )
    env.update(extra)
    return env


@pytest.fixture
def start_worker(celery_settings: Settings, queue: str, tmp_path: Path) -> Iterator[StartWorker]:
    """Start ``vitrine worker`` processes (each in its own process group, so a test can SIGKILL all of it)."""
    processes: list[subprocess.Popen[bytes]] = []

    def _start(concurrency: int = 1) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{len(processes)}.log").open("wb")
        process = subprocess.Popen(
            [VITRINE, "worker", "--concurrency", str(concurrency), "--loglevel", "warning"],
            env=worker_env(celery_settings, queue),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append(process)
        return process

    yield _start
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def describe_jobs(factory: SessionFactory, logs: Path) -> str:
    with session_scope(factory) as session:
        jobs = [
            (j.id[:8], j.status, j.attempt, j.progress_done, j.worker, j.error)
            for j in session.scalars(select(JobRun).order_by(JobRun.created_at))
        ]
    tails = {path.name: path.read_text(errors="replace")[-2000:] for path in sorted(logs.glob("worker-*.log"))}
    return f"jobs={jobs} logs={tails}"


def empty_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def comparable(job: JobRun) -> dict[str, Any]:
    """The parts of a crawl's record that do not depend on where or when it ran."""
    result = {k: v for k, v in (job.result or {}).items() if k not in ("run_id", "duration_seconds")}
    return {
        "kind": job.kind,
        "params": job.params,
        "status": job.status,
        "attempt": job.attempt,
        "error": job.error,
        "progress": (job.progress_done, job.progress_total),
        "result": result,
        "has_times": bool(job.started_at and job.finished_at and job.heartbeat_at),
    }


def test_worker_and_in_process_runner_run_a_crawl_with_the_same_records(
    celery_settings: Settings,
    bg_settings: Settings,
    bg_factory: SessionFactory,
    bg_engine: Engine,
    start_worker: StartWorker,
    books_site: Any,
) -> None:
    start_worker()
    app = create_app(celery_settings, session_factory=bg_factory)
    with session_scope(bg_factory) as session:
        admin = add_user(session, "admin")
    headers = auth_headers(celery_settings, admin)
    with TestClient(app) as client:
        assert isinstance(app.state.job_runner, CeleryRunner)
        accepted = client.post("/api/v1/scraping/trigger", json={"base_url": books_site.url}, headers=headers)
        assert accepted.status_code == 202
        job_id = accepted.json()["job_id"]
        by_celery = wait_for(lambda: finished(bg_factory, job_id), WORKER_START_TIMEOUT)
        status = client.get(accepted.json()["status_url"], headers=headers).json()
    assert by_celery.status == "succeeded", by_celery.error
    assert by_celery.worker.startswith("celery:vitrine-")
    assert by_celery.result["books_added"] == 30
    assert status["status"] == "succeeded" and status["progress_done"] == status["progress_total"]
    with session_scope(bg_factory) as session:
        assert session.scalars(select(ScrapeRun.job_id)).all() == [job_id]

    # The same crawl from scratch with the in-process runner writes the same record.
    empty_tables(bg_engine)
    runner = ThreadPoolRunner(bg_factory, bg_settings)
    attach_runner(bg_factory, runner)
    runner.start()
    try:
        with session_scope(bg_factory) as session:
            local_id = enqueue(session, "scraping.crawl_books", {"base_url": books_site.url}, requested_by=1).id
        in_process = wait_for(lambda: finished(bg_factory, local_id))
    finally:
        runner.stop()
    assert in_process.worker.startswith("inprocess@")
    assert comparable(in_process) == comparable(by_celery)


def test_sigkilled_worker_job_is_detected_then_retried_or_failed(
    celery_settings: Settings, bg_factory: SessionFactory, start_worker: StartWorker, tmp_path: Path
) -> None:
    attach_runner(bg_factory, CeleryRunner(celery_settings))
    with session_scope(bg_factory) as session:
        params = {"steps": 60, "step_seconds": 0.05}
        retried = enqueue(session, "jobs.probe", params, max_attempts=2).id
        lost = enqueue(session, "jobs.probe", params, max_attempts=1).id
    doomed = start_worker(concurrency=2)
    wait_for(
        lambda: all(job_record(bg_factory, j).progress_done >= 3 for j in (retried, lost)),
        WORKER_START_TIMEOUT,
        describe=lambda: describe_jobs(bg_factory, tmp_path),
    )
    first_worker = job_record(bg_factory, retried).worker

    os.killpg(doomed.pid, signal.SIGKILL)  # the whole worker, pool processes included: no goodbye
    doomed.wait()
    assert job_record(bg_factory, retried).status == "running"  # nobody has noticed yet

    start_worker()  # its watchdog notices the silent heartbeats and re-queues or fails the jobs
    failed = wait_for(lambda: finished(bg_factory, lost), WORKER_START_TIMEOUT)
    assert failed.status == "failed"
    assert "no heartbeat" in (failed.error or "")
    done = wait_for(lambda: finished(bg_factory, retried), WORKER_START_TIMEOUT)
    assert done.status == "succeeded"
    assert done.attempt == 2
    assert done.worker != first_worker
    assert done.result is not None
    assert done.result["done"] == 60
    assert done.result["resumed_from"] >= 3  # continued from its checkpoint


def test_cancel_a_job_on_a_worker(
    celery_settings: Settings, bg_factory: SessionFactory, start_worker: StartWorker
) -> None:
    attach_runner(bg_factory, CeleryRunner(celery_settings))
    with session_scope(bg_factory) as session:
        job_id = enqueue(session, "jobs.probe", {"steps": 100_000, "step_seconds": 0.001}).id
        queued_then_cancelled = enqueue(session, "jobs.probe", {"steps": 1}).id
    from vitrine.jobs import service

    with session_scope(bg_factory) as session:
        service.cancel_job(session, queued_then_cancelled)  # before any worker exists: cancelled at once
    start_worker()
    wait_for(lambda: job_record(bg_factory, job_id).status == "running", WORKER_START_TIMEOUT)
    with session_scope(bg_factory) as session:
        service.cancel_job(session, job_id)
    done = wait_for(lambda: finished(bg_factory, job_id))
    assert done.status == "cancelled"
    assert done.result is not None and done.result["done"] < 100_000
    skipped = job_record(bg_factory, queued_then_cancelled)
    assert (skipped.status, skipped.attempt, skipped.started_at) == ("cancelled", 0, None)  # its message did nothing


def test_one_beat_leads_and_another_takes_over(celery_settings: Settings, queue: str) -> None:
    assert celery_settings.redis_url
    key = f"{queue}:beat-leader"
    first = LeaderLock(celery_settings.redis_url, key, ttl=5)
    second = LeaderLock(celery_settings.redis_url, key, ttl=5)
    try:
        assert first.held() is True
        assert second.held() is False
        assert first.held() is True  # renewing
        first.release()
        assert second.held() is True
    finally:
        first.release()
        second.release()


def test_beat_recovers_lost_jobs_and_sends_them_to_the_queue(
    celery_settings: Settings, bg_factory: SessionFactory, queue: str
) -> None:
    stale = utcnow().replace(year=2000)
    with session_scope(bg_factory) as session:
        job = JobRun(kind="jobs.probe", params={}, status="running", attempt=1, max_attempts=2)
        job.started_at = job.heartbeat_at = stale
        session.add(job)
    stop = threading.Event()
    beat = threading.Thread(target=run_beat, args=(celery_settings, stop), daemon=True)
    beat.start()
    try:
        wait_for(lambda: job_record(bg_factory, job.id).status == "queued")
        client = redis.Redis.from_url(str(celery_settings.redis_url))
        try:
            wait_for(lambda: client.llen(f"{queue}:{queue}") == 1)  # the Celery message, under our key prefix
        finally:
            client.close()
    finally:
        stop.set()
        beat.join(timeout=15)
    assert not beat.is_alive()
