"""Fixtures of the observability tests: users with tokens (no password hashing), the request-log writer."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from vitrine.auth.tokens import TokenType, issue, new_family_id
from vitrine.config import ObservabilitySettings, Settings
from vitrine.models.user import Role, User
from vitrine.observability.request_log import RequestLogWriter


class TestObservabilitySettings(ObservabilitySettings):
    """Settings the coordinator adds to ``ObservabilitySettings``; declared here so the tests can set them."""

    __test__ = False
    metrics_token: str | None = None
    metrics_dir: str | None = None
    request_log_max_queue: int = 50_000
    worker_metrics_port: int = 0
    ready_timeout_seconds: float = 2.0
    log_level: str = "INFO"


def with_observability(settings: Settings, **options: object) -> Settings:
    values = {**settings.observability.model_dump(), **options}
    return settings.model_copy(update={"observability": TestObservabilitySettings(**values)})


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Small batches so the tests see several INSERTs.
    return with_observability(settings, request_log_batch_size=5)


@pytest.fixture
def writer(app: FastAPI) -> RequestLogWriter:
    log: RequestLogWriter = app.state.request_log
    assert log is not None
    assert not log.background  # the test factory is connection-bound: no thread, flushes are explicit
    return log


@pytest.fixture
def make_user(session: Session) -> Callable[..., User]:
    def _make(role: Role = Role.user) -> User:
        name = f"obs{uuid.uuid4().hex[:10]}"
        user = User(
            username=name,
            username_normalized=name,
            email=f"{name}@example.com",
            password_hash="not-a-real-hash",
            role=role.value,
            is_active=True,
        )
        session.add(user)
        session.commit()
        return user

    return _make


@pytest.fixture
def headers_for(settings: Settings) -> Callable[[User], dict[str, str]]:
    def _headers(user: User) -> dict[str, str]:
        token = issue(settings, user_id=user.id, typ=TokenType.access, family_id=new_family_id()).token
        return {"Authorization": f"Bearer {token}"}

    return _headers


@pytest.fixture
def admin_headers(make_user: Callable[..., User], headers_for: Callable[[User], dict[str, str]]) -> dict[str, str]:
    return headers_for(make_user(Role.admin))


@pytest.fixture
def user_headers(make_user: Callable[..., User], headers_for: Callable[[User], dict[str, str]]) -> dict[str, str]:
    return headers_for(make_user(Role.user))
