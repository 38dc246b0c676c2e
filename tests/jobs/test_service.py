"""The job service and executor on the suite's transaction (jobs run inline, in the committing thread)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.jobs import service
from vitrine.jobs.registry import JobCancelled, JobContext, job
from vitrine.jobs.runner import InlineRunner, build_runner
from vitrine.jobs.service import JobConflict, attach_runner, enqueue, run_inline
from vitrine.jobs.watchdog import recover_lost_jobs
from vitrine.kit.clock import utcnow
from vitrine.models.job_run import JobRun

CALLS: list[dict[str, Any]] = []


@job("tests.record")
def record_call(ctx: JobContext) -> dict[str, Any]:
    CALLS.append({"job_id": ctx.job_id, "params": ctx.params, "attempt": ctx.attempt})
    ctx.progress(1, 1, "recorded")
    return {"seen": ctx.params.get("n")}


@pytest.fixture
def runner(session_factory: SessionFactory, settings: Settings) -> InlineRunner:
    CALLS.clear()
    inline = build_runner(settings, session_factory)
    assert isinstance(inline, InlineRunner)  # connection-bound factories never get a background thread
    attach_runner(session_factory, inline)
    return inline


def count_jobs(session: Session, kind: str) -> int:
    return session.scalar(select(func.count()).select_from(JobRun).where(JobRun.kind == kind)) or 0


def test_job_is_dispatched_only_after_commit(session_factory: SessionFactory, runner: InlineRunner) -> None:
    with session_factory() as session:
        job_id = enqueue(session, "tests.record", {"n": 1}).id
        session.flush()
        assert CALLS == []  # created and flushed, not sent
        session.commit()
    assert [call["job_id"] for call in CALLS] == [job_id]
    with session_factory() as session:
        stored = service.get_job(session, job_id)
        assert stored is not None
        assert stored.status == "succeeded"
        assert stored.result == {"seen": 1}
        assert (stored.progress_done, stored.progress_total, stored.progress_message) == (1, 1, "recorded")
        assert stored.attempt == 1
        assert stored.worker and stored.worker.startswith("inline@")
        assert stored.started_at is not None and stored.finished_at is not None


def test_rollback_drops_the_job(session_factory: SessionFactory, runner: InlineRunner) -> None:
    with session_factory() as session:
        enqueue(session, "tests.record", {"n": 2})
        session.rollback()
        assert count_jobs(session, "tests.record") == 0
        session.commit()  # a later commit of the same session must not send the dropped job
    with session_factory() as session:
        enqueue(session, "tests.record", {"n": 3})
        # closed without commit: rolled back, nothing sent
    assert CALLS == []


def test_dedupe_key_refuses_a_second_active_job(session_factory: SessionFactory, session: Session) -> None:
    first = enqueue(session, "jobs.probe", {}, dedupe_key="only-one")
    with pytest.raises(JobConflict) as info:
        enqueue(session, "jobs.probe", {}, dedupe_key="only-one")
    assert info.value.job_id == first.id
    assert info.value.status_code == 409


def test_unknown_kind_is_refused(session: Session) -> None:
    with pytest.raises(Exception, match="Unknown job kind"):
        enqueue(session, "no.such.kind")


def test_run_inline_retries_until_attempts_are_used(session_factory: SessionFactory, settings: Settings) -> None:
    done = run_inline(session_factory, settings, "jobs.probe", {"steps": 3, "fail_attempts": 1})
    assert done.status == "failed"  # one attempt by default
    assert done.error == "RuntimeError: probe failing attempt 1 as asked"
    with session_factory() as session:
        job_id = enqueue(session, "jobs.probe", {"steps": 3, "fail_attempts": 1}, max_attempts=2).id
        session.info[service.RUNNER_KEY] = InlineRunner(session_factory, settings)
        session.commit()
    with session_factory() as session:
        retried = service.get_job(session, job_id)
        assert retried is not None
        assert (retried.status, retried.attempt) == ("succeeded", 2)
        assert retried.result is not None and retried.result["done"] == 3


def test_cancelled_run_is_resumed_from_its_checkpoint(session_factory: SessionFactory, settings: Settings) -> None:
    stops = {1: 1, 2: 1}  # parameter x -> how many runs still stop at step 2

    @job("tests.stop_after_two")
    def stop_after_two(ctx: JobContext) -> dict[str, Any]:
        start = ctx.load_checkpoint().get("done", 0)
        done = start
        while done < 5:
            if done == 2 and stops[ctx.params["x"]] > 0:
                stops[ctx.params["x"]] -= 1
                raise JobCancelled()
            done += 1
            ctx.save_checkpoint({"done": done})
            ctx.progress(done, 5)
        return {"done": done, "start": start}

    first = run_inline(session_factory, settings, "tests.stop_after_two", {"x": 1})
    assert first.status == "cancelled"
    assert (first.progress_done, first.progress_total) == (2, 5)
    second = run_inline(session_factory, settings, "tests.stop_after_two", {"x": 1})
    assert second.status == "succeeded"
    assert second.result == {"done": 5, "start": 2}
    other_params = run_inline(session_factory, settings, "tests.stop_after_two", {"x": 2})
    assert other_params.status == "cancelled"  # another parameter set has its own checkpoints
    third = run_inline(session_factory, settings, "tests.stop_after_two", {"x": 1})
    assert third.result == {"done": 5, "start": 0}  # the last run of these parameters completed: start afresh


def test_watchdog_fails_or_requeues_jobs_without_heartbeat(
    session: Session, session_factory: SessionFactory, settings: Settings
) -> None:
    stale = utcnow() - timedelta(seconds=settings.jobs.heartbeat_timeout_seconds + 5)
    fresh = utcnow()
    jobs = {
        "last-attempt": JobRun(kind="jobs.probe", status="running", attempt=1, max_attempts=1, heartbeat_at=stale),
        "can-retry": JobRun(kind="jobs.probe", status="running", attempt=1, max_attempts=3, heartbeat_at=stale),
        "alive": JobRun(kind="jobs.probe", status="running", attempt=1, max_attempts=1, heartbeat_at=fresh),
    }
    for name, item in jobs.items():
        item.dedupe_key = f"key-{name}"
        session.add(item)
    session.commit()
    dispatched: list[str] = []
    outcomes = recover_lost_jobs(session_factory, settings, dispatched.append)
    assert outcomes == {jobs["last-attempt"].id: "failed", jobs["can-retry"].id: "queued"}
    assert dispatched == [jobs["can-retry"].id]
    session.expire_all()
    assert jobs["last-attempt"].status == "failed"
    assert jobs["last-attempt"].finished_at is not None
    assert jobs["last-attempt"].dedupe_key is None  # a new job with that key may start
    assert "no heartbeat" in (jobs["last-attempt"].error or "")
    assert jobs["can-retry"].status == "queued"
    assert jobs["can-retry"].dedupe_key == "key-can-retry"  # still active: still holds its key
    assert jobs["alive"].status == "running"
    assert recover_lost_jobs(session_factory, settings, dispatched.append) == {}  # nothing is taken twice


def test_a_lost_attempt_cannot_overwrite_the_job(session_factory: SessionFactory, settings: Settings) -> None:
    """An attempt the watchdog gave up on may still be running somewhere; its late outcome is discarded."""

    @job("tests.late")
    def late(ctx: JobContext) -> dict[str, Any]:
        with ctx.factory() as s:  # meanwhile the watchdog re-queued the job
            s.execute(update(JobRun).where(JobRun.id == ctx.job_id).values(status="queued"))
            s.commit()
        return {"late": True}

    outcome = run_inline(session_factory, settings, "tests.late")
    assert outcome.status == "queued"
    assert outcome.result is None


def test_claim_is_atomic(session_factory: SessionFactory) -> None:
    from vitrine.jobs import repository

    with session_factory() as session:
        job_id = enqueue(session, "jobs.probe").id
        session.info[service.RUNNER_KEY] = None
        session.commit()
    with session_factory() as session:
        assert repository.claim(session, job_id, "a") == 1
        assert repository.claim(session, job_id, "b") is None
        session.commit()
