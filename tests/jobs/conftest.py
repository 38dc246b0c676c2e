"""Fixtures of the jobs tests.

Two kinds of tests: those on the suite's per-test transaction (``session``/``client``; jobs then run inline,
in the committing thread), and "background" tests where jobs run on other threads or in a Celery worker process.
Background tests get their own database — a temporary SQLite file, or a ``jobs_bg`` schema in the PostgreSQL
test database — with real commits, emptied after each test.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests.conftest import require_service, schema_database_url

import vitrine.models  # noqa: F401  (registers every table, for the clean-up between tests)
from vitrine.auth.tokens import TokenType, issue, new_family_id
from vitrine.config import Environment, Settings
from vitrine.db import Base, SessionFactory, make_engine, make_session_factory, session_scope
from vitrine.models.job_run import JobRun
from vitrine.models.user import User

REDIS_URL = os.environ.get("VITRINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BG_SCHEMA = "jobs_bg"
SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 20.0,
    interval: float = 0.02,
    describe: Callable[[], str] | None = None,
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds (saying ``describe()``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s" + (f": {describe()}" if describe else ""))
        time.sleep(interval)


# -- accounts --------------------------------------------------------------------------------------------------


def add_user(session: Session, role: str = "user") -> User:
    name = f"u{uuid.uuid4().hex[:10]}"
    user = User(
        username=name,
        username_normalized=name,
        email=f"{name}@example.com",
        password_hash="not-a-real-hash",
        role=role,
        is_active=True,
    )
    session.add(user)
    session.commit()
    return user


def auth_headers(settings: Settings, user: User) -> dict[str, str]:
    token = issue(settings, user_id=user.id, typ=TokenType.access, family_id=new_family_id()).token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_account(session: Session, settings: Settings) -> Callable[..., tuple[User, dict[str, str]]]:
    def _make(role: str = "user") -> tuple[User, dict[str, str]]:
        user = add_user(session, role)
        return user, auth_headers(settings, user)

    return _make


# -- the background database -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def bg_database_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return schema_database_url(database_url, tmp_path_factory.mktemp("jobs-bg"), BG_SCHEMA)


@pytest.fixture(scope="session")
def bg_engine(bg_database_url: str) -> Iterator[Engine]:
    engine = make_engine(bg_database_url, pool_size=10, max_overflow=10)
    yield engine
    engine.dispose()


@pytest.fixture
def bg_factory(bg_engine: Engine) -> Iterator[SessionFactory]:
    factory = make_session_factory(bg_engine)
    yield factory
    with bg_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def bg_settings(bg_database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=bg_database_url,
        redis_url=None,
        catalog_cache_seconds=0,
        secret_key=SECRET,  # type: ignore[arg-type]
        ml={"artifacts_dir": tmp_path / "models"},  # type: ignore[arg-type]
        jobs={  # type: ignore[arg-type]
            "heartbeat_seconds": 0.1,
            "heartbeat_timeout_seconds": 1.0,
            "cleanup_schedule": "",
            "max_workers": 2,
        },
        scraping={"respect_robots_txt": False, "concurrency": 4},  # type: ignore[arg-type]
        observability={"request_log": False},  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )


def job_record(factory: SessionFactory, job_id: str) -> JobRun:
    with session_scope(factory) as session:
        job = session.get(JobRun, job_id)
        assert job is not None
        return job


def finished(factory: SessionFactory, job_id: str) -> JobRun | None:
    job = job_record(factory, job_id)
    return job if job.status in ("succeeded", "failed", "cancelled") else None


# -- the books sandbox -----------------------------------------------------------------------------------------------


@pytest.fixture
def books_site() -> Iterator[Any]:
    """A small books site on a real local port; ``.site`` is the ASGI app (latency, faults), ``.url`` its URL."""
    from vitrine.sandbox.books_site import BooksSite
    from vitrine.sandbox.server import serve_in_thread

    site = BooksSite(books=30, categories=3)
    with serve_in_thread(site) as server:
        server.site = site  # type: ignore[attr-defined]
        yield server


# -- Redis -----------------------------------------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", str(exc))
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def queue(redis_url: str) -> Iterator[str]:
    """A queue (and Redis key prefix) of this test's own; its keys are deleted afterwards."""
    import redis

    name = f"vitrine-test-jobs-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}*"))
    if keys:
        client.delete(*keys)
    client.close()
