"""The in-process back end for real: a thread pool and a scheduler thread inside the API, on their own database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.jobs.conftest import add_user, auth_headers, finished, job_record, wait_for

from vitrine.config import Settings
from vitrine.db import SessionFactory, session_scope
from vitrine.jobs.registry import JobContext, job
from vitrine.jobs.runner import ThreadPoolRunner
from vitrine.jobs.service import attach_runner, enqueue
from vitrine.kit.clock import utcnow
from vitrine.main import create_app
from vitrine.models.book import Book
from vitrine.models.job_run import JobRun
from vitrine.models.scrape_run import ScrapeRun

QUIET = threading.Event()
SEEN_REQUEST_IDS: list[str | None] = []


@job("tests.quiet")
def quiet(ctx: JobContext) -> dict[str, Any]:
    """Works without reporting progress until released: only the heartbeat thread shows it is alive."""
    from vitrine.observability.context import request_id_var

    SEEN_REQUEST_IDS.append(request_id_var.get())
    while not QUIET.wait(0.01):
        if ctx.should_cancel():
            break
    return {"released": QUIET.is_set()}


@dataclass
class Api:
    client: TestClient
    headers: dict[str, str]
    factory: SessionFactory

    def trigger(self, **body: Any) -> Any:
        return self.client.post("/api/v1/scraping/trigger", json=body or None, headers=self.headers)

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/jobs/{job_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_status(self, job_id: str, *statuses: str, timeout: float = 30.0) -> dict[str, Any]:
        result: dict[str, Any] = wait_for(lambda: (j := self.job(job_id))["status"] in statuses and j, timeout)
        return result


@pytest.fixture
def api(bg_settings: Settings, bg_factory: SessionFactory) -> Iterator[Api]:
    QUIET.clear()
    SEEN_REQUEST_IDS.clear()
    app = create_app(bg_settings, session_factory=bg_factory)
    with session_scope(bg_factory) as session:
        admin = add_user(session, "admin")
    with TestClient(app) as client:  # runs the lifespan: the pool and the scheduler start
        assert isinstance(app.state.job_runner, ThreadPoolRunner)
        yield Api(client, auth_headers(bg_settings, admin), bg_factory)
        QUIET.set()


def test_triggered_crawl_runs_to_completion_and_a_rerun_resumes(api: Api, books_site: Any) -> None:
    accepted = api.trigger(base_url=books_site.url)
    assert accepted.status_code == 202
    job_id = accepted.json()["job_id"]
    done = api.wait_status(job_id, "succeeded", "failed", "cancelled")
    assert done["status"] == "succeeded", done
    assert done["worker"].startswith("inprocess@")
    assert done["attempt"] == 1
    assert done["result"]["books_added"] == 30
    assert done["progress_done"] == done["progress_total"] > 0
    assert done["started_at"] and done["finished_at"] and done["heartbeat_at"]
    with session_scope(api.factory) as session:
        assert session.scalar(select(func.count()).select_from(Book)) == 30
        run = session.scalars(select(ScrapeRun).where(ScrapeRun.job_id == job_id)).one()
        assert run.status == "succeeded"

    # A second crawl continues from what the first stored: unchanged pages answer 304, no book is rewritten.
    hits_before = sum(books_site.site.statuses.values())
    again = api.wait_status(api.trigger(base_url=books_site.url).json()["job_id"], "succeeded", "failed")
    assert again["status"] == "succeeded"
    assert again["result"]["books_added"] == 0
    assert again["result"]["books_updated"] == 0
    assert again["result"]["pages_not_modified"] > 0
    assert books_site.site.statuses[304] >= again["result"]["pages_not_modified"]
    assert sum(books_site.site.statuses.values()) > hits_before


def test_second_trigger_gets_409_then_cancel_stops_the_crawl(api: Api, books_site: Any) -> None:
    books_site.site.set_latency(0.05)  # slow enough to still be running when we trigger again
    first = api.trigger(base_url=books_site.url, concurrency=1).json()["job_id"]
    wait_for(lambda: api.job(first)["progress_done"] >= 3)  # some pages stored before it is cancelled
    conflict = api.trigger(base_url=books_site.url)
    assert conflict.status_code == 409
    assert conflict.json()["detail"]["job_id"] == first

    asked = api.client.post(f"/api/v1/jobs/{first}/cancel", headers=api.headers).json()
    assert asked["cancel_requested"] is True
    stopped = api.wait_status(first, "cancelled", "succeeded", "failed")
    assert stopped["status"] == "cancelled"
    assert stopped["result"]["crawl_status"] == "cancelled"
    assert stopped["result"]["books_added"] < 30

    books_site.site.set_latency(0)
    resumed = api.trigger(base_url=books_site.url)  # the key is free again
    assert resumed.status_code == 202
    rerun = api.wait_status(resumed.json()["job_id"], "succeeded", "failed")
    assert rerun["status"] == "succeeded"
    # It continued from what the cancelled crawl stored: those pages answered 304, those books were not re-added.
    assert rerun["result"]["pages_not_modified"] > 0
    assert rerun["result"]["books_added"] == 30 - stopped["result"]["books_added"]
    with session_scope(api.factory) as session:
        assert session.scalar(select(func.count()).select_from(Book)) == 30


def test_heartbeat_keeps_a_quiet_job_alive_past_the_timeout(api: Api, bg_settings: Settings) -> None:
    with session_scope(api.factory) as session:
        job_id = enqueue(session, "tests.quiet").id
    api.wait_status(job_id, "running")
    first_beat = job_record(api.factory, job_id).heartbeat_at
    assert first_beat is not None
    # Longer than the timeout without progress: the heartbeat thread, not progress, keeps it running.
    wait_for(
        lambda: (
            (beat := job_record(api.factory, job_id).heartbeat_at) is not None
            and beat - first_beat > timedelta(seconds=bg_settings.jobs.heartbeat_timeout_seconds * 1.5)
        )
    )
    assert job_record(api.factory, job_id).status == "running"
    QUIET.set()
    done = api.wait_status(job_id, "succeeded")
    assert done["result"] == {"released": True}
    assert done["attempt"] == 1


def test_request_id_travels_to_the_job_thread(api: Api) -> None:
    from vitrine.observability.context import request_id_var

    token = request_id_var.set("req-abc")
    try:
        with session_scope(api.factory) as session:
            job_id = enqueue(session, "tests.quiet").id
    finally:
        request_id_var.reset(token)
    QUIET.set()
    assert api.wait_status(job_id, "succeeded")["request_id"] == "req-abc"
    assert SEEN_REQUEST_IDS == ["req-abc"]


def test_cancel_a_running_job(api: Api) -> None:
    with session_scope(api.factory) as session:
        job_id = enqueue(session, "jobs.probe", {"steps": 100_000, "step_seconds": 0.001}).id
    api.wait_status(job_id, "running")
    api.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=api.headers)
    done = api.wait_status(job_id, "cancelled", "succeeded")
    assert done["status"] == "cancelled"
    assert done["result"]["done"] < 100_000
    assert done["finished_at"] is not None


def test_rollback_drops_the_job_committed_one_runs(api: Api) -> None:
    with api.factory() as session:
        enqueue(session, "jobs.probe", {"marker": "dropped"})
        session.rollback()
    with session_scope(api.factory) as session:
        kept = enqueue(session, "jobs.probe", {"marker": "kept"}).id
    api.wait_status(kept, "succeeded")
    with session_scope(api.factory) as session:
        assert [j.params["marker"] for j in session.scalars(select(JobRun))] == ["kept"]


def test_scheduler_recovers_a_job_whose_worker_died(api: Api, bg_settings: Settings) -> None:
    stale = utcnow() - timedelta(seconds=bg_settings.jobs.heartbeat_timeout_seconds * 3)
    with session_scope(api.factory) as session:
        retried = JobRun(kind="jobs.probe", params={"steps": 2}, status="running", attempt=1, max_attempts=2)
        lost = JobRun(kind="jobs.probe", params={"steps": 2}, status="running", attempt=1, max_attempts=1)
        for item in (retried, lost):
            item.started_at = item.heartbeat_at = stale
            item.worker = "inprocess@dead-host:1"
            session.add(item)
    done = api.wait_status(retried.id, "succeeded", "failed")
    assert (done["status"], done["attempt"]) == ("succeeded", 2)
    assert done["worker"] != "inprocess@dead-host:1"
    failed = api.wait_status(lost.id, "failed", "succeeded")
    assert failed["status"] == "failed"
    assert "no heartbeat" in failed["error"]


def test_scheduler_picks_up_queued_jobs_no_runner_holds(api: Api, bg_settings: Settings) -> None:
    """E.g. queued by a process that stopped before dispatching, or handed back at shutdown."""
    old = utcnow() - timedelta(seconds=bg_settings.jobs.heartbeat_timeout_seconds * 3)
    with session_scope(api.factory) as session:
        orphan = JobRun(kind="jobs.probe", params={"steps": 1}, status="queued", created_at=old)
        session.add(orphan)
    assert api.wait_status(orphan.id, "succeeded")["attempt"] == 1


def test_shutdown_hands_a_running_job_back_and_it_resumes(bg_factory: SessionFactory, bg_settings: Settings) -> None:
    runner = ThreadPoolRunner(bg_factory, bg_settings)
    attach_runner(bg_factory, runner)
    runner.start()
    with session_scope(bg_factory) as session:
        job_id = enqueue(session, "jobs.probe", {"steps": 400, "step_seconds": 0.005}).id
    wait_for(lambda: job_record(bg_factory, job_id).progress_done > 10)
    runner.stop()
    handed_back = job_record(bg_factory, job_id)
    assert handed_back.status == "queued"
    assert handed_back.attempt == 0  # a shutdown does not use up an attempt

    successor = ThreadPoolRunner(bg_factory, bg_settings)
    successor.start()
    try:
        successor.submit(job_id)
        done = wait_for(lambda: finished(bg_factory, job_id))
    finally:
        successor.stop()
    assert done.status == "succeeded"
    assert done.result is not None
    assert done.result["done"] == 400
    assert done.result["resumed_from"] > 10
