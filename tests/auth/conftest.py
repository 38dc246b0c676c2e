"""Fixtures of the accounts tests: fast Argon2, a controllable clock for the login limiter, users and tokens."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from vitrine.auth import service
from vitrine.auth.guard import LoginGuard
from vitrine.auth.passwords import Passwords, passwords_for
from vitrine.config import AuthSettings, Settings
from vitrine.db import SessionFactory
from vitrine.main import create_app
from vitrine.models.user import Role, User

REDIS_URL = os.environ.get("VITRINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "a-long-enough-password"


class FastAuthSettings(AuthSettings):
    """The Argon2 knobs read by ``vitrine.auth.passwords``, lowered so hashing takes a millisecond."""

    argon2_time_cost: int = 1
    argon2_memory_kib: int = 1024
    argon2_parallelism: int = 1


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth": FastAuthSettings(**settings.auth.model_dump())})


@dataclass
class FakeClock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(settings: Settings, session_factory: SessionFactory, clock: FakeClock) -> FastAPI:
    application = create_app(settings, session_factory=session_factory)
    application.state.login_guard = LoginGuard.from_settings(settings, clock=clock)
    return application


@pytest.fixture
def passwords(settings: Settings) -> Passwords:
    return passwords_for(settings)


@pytest.fixture
def make_user(session: Session, settings: Settings, passwords: Passwords) -> Callable[..., User]:
    def _make(
        username: str | None = None, *, role: Role = Role.user, password: str = PASSWORD, active: bool = True
    ) -> User:
        name = username or f"user{uuid.uuid4().hex[:8]}"
        user = service.create_user(
            session, settings, passwords, username=name, email=f"{name}@example.com", password=password, role=role
        )
        user.is_active = active
        session.commit()
        return user

    return _make


@dataclass
class Api:
    """Thin helpers over the TestClient for the flows every test repeats."""

    client: TestClient
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

    def login(self, username: str, password: str = PASSWORD, **kwargs: Any) -> Any:
        return self.client.post("/api/v1/auth/login", json={"username": username, "password": password}, **kwargs)

    def tokens_for(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        response = self.login(username, password)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def headers(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        return bearer(self.tokens_for(username, password)["access_token"])

    def refresh(self, refresh_token: str) -> Any:
        return self.client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user("root", role=Role.admin)


@pytest.fixture
def redis_client() -> Iterator[Any]:
    """The real Redis, with a key prefix of this test's own; only those keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"Redis is required in CI: {exc}")
        pytest.skip(f"Redis unavailable: {exc}")
    prefix = f"vitrine-test-auth:{uuid.uuid4().hex}:"
    client.test_prefix = prefix  # type: ignore[attr-defined]
    yield client
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()
