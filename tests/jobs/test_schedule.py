"""Cron parsing, the schedule's ticks, one job per tick, and the retention clean-up job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.jobs.cron import CronError, parse_cron
from vitrine.jobs.registry import JobContext, job
from vitrine.jobs.scheduler import Schedule, ScheduleEntry, fire, schedule_entries
from vitrine.jobs.service import enqueue, run_inline
from vitrine.kit.clock import utcnow
from vitrine.models.audit_event import AuditEvent
from vitrine.models.job_run import JobRun


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("* * * * *", "2026-01-01T10:00:30", "2026-01-01T10:01:00"),
        ("*/15 * * * *", "2026-01-01T10:14:00", "2026-01-01T10:15:00"),
        ("*/15 * * * *", "2026-01-01T10:45:00", "2026-01-01T11:00:00"),
        ("17 3 * * *", "2026-01-01T03:17:00", "2026-01-02T03:17:00"),
        ("0 9 * * mon-fri", "2026-01-02T12:00:00", "2026-01-05T09:00:00"),  # Friday noon -> Monday
        ("0 0 1 jan *", "2026-03-01T00:00:00", "2027-01-01T00:00:00"),
        ("0 0 29 2 *", "2026-01-01T00:00:00", "2028-02-29T00:00:00"),
        ("0 0 31 * *", "2026-04-01T00:00:00", "2026-05-31T00:00:00"),
        ("0 0 13 * 5", "2026-02-01T00:00:00", "2026-02-06T00:00:00"),  # day 13 OR a Friday
        ("30 2 * * 7", "2026-01-01T00:00:00", "2026-01-04T02:30:00"),  # 7 is Sunday
        ("5,10-12 * * * *", "2026-01-01T10:10:00", "2026-01-01T10:11:00"),
        ("10-40/10 * * * *", "2026-01-01T10:40:00", "2026-01-01T11:10:00"),
        ("@hourly", "2026-01-01T10:10:00", "2026-01-01T11:00:00"),
        ("@daily", "2026-12-31T10:10:00", "2027-01-01T00:00:00"),
    ],
)
def test_next_tick(expression: str, after: str, expected: str) -> None:
    assert parse_cron(expression).next_after(at(after)) == at(expected)


@pytest.mark.parametrize(
    "expression", ["", "* * * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "5-1 * * * *", "0 0 30 2 *", "x * * * *"]
)
def test_bad_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(CronError):
        parse_cron(expression)


def test_schedule_fires_the_latest_due_tick_once() -> None:
    entry = ScheduleEntry("probe", "jobs.probe", parse_cron("*/10 * * * *"))
    schedule = Schedule([entry], start=at("2026-01-01T10:05:00"))
    assert schedule.due(at("2026-01-01T10:09:59")) == []
    assert schedule.due(at("2026-01-01T10:10:00")) == [(entry, at("2026-01-01T10:10:00"))]
    assert schedule.due(at("2026-01-01T10:10:30")) == []
    # asleep for an hour: missed ticks are not replayed, only the latest fires
    assert schedule.due(at("2026-01-01T11:15:00")) == [(entry, at("2026-01-01T11:10:00"))]


def test_schedule_from_settings(settings: Settings) -> None:
    assert [e.name for e in schedule_entries(settings)] == ["cleanup"]  # crawl is off by default
    custom = settings.model_copy(update={"jobs": settings.jobs.model_copy(update={"crawl_schedule": "0 */6 * * *"})})
    entries = {e.name: e for e in schedule_entries(custom)}
    assert entries["crawl"].kind == "scraping.crawl_books"
    assert entries["crawl"].dedupe_key == "scraping.crawl_books"  # never a second crawl beside a running one
    assert "fakestore-sync" not in entries  # off by default: it touches the network
    synced = settings.model_copy(
        update={"fakestore": settings.fakestore.model_copy(update={"sync_schedule": "*/30 * * * *"})}
    )
    sync = {e.name: e for e in schedule_entries(synced)}["fakestore-sync"]
    assert (sync.kind, sync.dedupe_key) == ("fakestore.sync", "fakestore.sync")


def test_two_schedulers_seeing_one_tick_create_one_job(session_factory: SessionFactory, session: Session) -> None:
    entry = ScheduleEntry("probe", "jobs.probe", parse_cron("* * * * *"), params={"steps": 1})
    tick = at("2026-01-01T10:10:00")
    first = fire(session_factory, entry, tick)
    second = fire(session_factory, entry, tick)
    assert first is not None and second is None
    jobs = session.scalars(select(JobRun).where(JobRun.kind == "jobs.probe")).all()
    assert [(j.id, j.scheduled_for) for j in jobs] == [(first, tick)]
    assert fire(session_factory, entry, tick + timedelta(minutes=1)) is not None


def test_scheduled_crawl_is_skipped_while_one_is_active(session_factory: SessionFactory, session: Session) -> None:
    enqueue(session, "jobs.probe", dedupe_key="busy")
    session.info["vitrine.jobs.runner"] = None
    session.commit()
    entry = ScheduleEntry("busy", "jobs.probe", parse_cron("* * * * *"), dedupe_key="busy")
    assert fire(session_factory, entry, at("2026-01-01T10:10:00")) is None


def test_cleanup_deletes_old_records_only(
    session_factory: SessionFactory, session: Session, settings: Settings
) -> None:
    from vitrine.models.ml_prediction_log import MLPredictionLog
    from vitrine.models.refresh_token import RefreshToken
    from vitrine.models.request_log import RequestLog
    from vitrine.models.user import User

    old = utcnow() - timedelta(days=settings.jobs.retention_days + 1)
    recent = utcnow() - timedelta(days=1)
    for status in ("succeeded", "failed", "cancelled"):
        session.add(JobRun(kind="jobs.probe", status=status, created_at=old, finished_at=old))
    session.add(JobRun(kind="jobs.probe", status="succeeded", created_at=recent, finished_at=recent))
    session.add(JobRun(kind="jobs.probe", status="running", created_at=old, started_at=old))  # never deleted
    session.add(AuditEvent(action="old", created_at=old))
    session.add(AuditEvent(action="recent", created_at=recent))
    for when in (old, recent):
        session.add(RequestLog(created_at=when, method="GET", route="/api/v1/books", status=200, duration_ms=1.0))
        session.add(
            MLPredictionLog(
                created_at=when, model_name="svm", model_version=1, features={}, predicted_rating=3, confidence=0.5
            )
        )
    user = User(username="u", username_normalized="u", email="u@example.com", password_hash="x")
    session.add(user)
    session.flush()
    for expires, family in ((utcnow() - timedelta(minutes=1), "expired"), (utcnow() + timedelta(days=1), "valid")):
        session.add(RefreshToken(user_id=user.id, family_id=family, token_hash=family * 4, expires_at=expires))
    session.commit()

    job = run_inline(session_factory, settings, "jobs.cleanup")
    assert job.status == "succeeded"
    assert job.result is not None
    assert job.result["job_runs_deleted"] == 3
    assert job.result["audit_events_deleted"] == 1
    assert job.result["request_logs_deleted"] == 1
    assert job.result["prediction_logs_deleted"] == 1
    assert job.result["refresh_tokens_purged"] == 1
    assert job.result["retention_days"] == settings.jobs.retention_days
    session.expire_all()
    remaining = session.scalars(select(JobRun.status).order_by(JobRun.status)).all()
    assert remaining == ["running", "succeeded", "succeeded"]  # the recent one, the running one, this clean-up
    assert session.scalars(select(AuditEvent.action)).all() == ["recent"]
    assert session.scalar(select(func.count()).select_from(RequestLog)) == 1
    assert session.scalar(select(func.count()).select_from(MLPredictionLog)) == 1
    assert session.scalars(select(RefreshToken.family_id)).all() == ["valid"]


def test_cleanup_retention_can_be_given(session_factory: SessionFactory, session: Session, settings: Settings) -> None:
    session.add(JobRun(kind="jobs.probe", status="succeeded", finished_at=utcnow() - timedelta(days=3)))
    session.commit()
    job = run_inline(session_factory, settings, "jobs.cleanup", {"retention_days": 2})
    assert job.result is not None and job.result["job_runs_deleted"] == 1


def test_request_id_is_stored_and_bound_while_the_job_runs(session_factory: SessionFactory, settings: Settings) -> None:
    from vitrine.observability.context import request_id_var

    seen: dict[str, Any] = {}

    @job("tests.request_id")
    def read_request_id(ctx: JobContext) -> None:
        seen["request_id"] = request_id_var.get()

    token = request_id_var.set("req-123")
    try:
        stored = run_inline(session_factory, settings, "tests.request_id")
    finally:
        request_id_var.reset(token)
    assert stored.request_id == "req-123"
    assert seen == {"request_id": "req-123"}
