"""Fixtures of the FakeStore tests: the sandbox upstream on a real port, the cache (real Redis with a key prefix of
the test's own, and the in-process cache), a controllable clock, and an app whose read path uses them."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from vitrine.auth.tokens import TokenType, issue, new_family_id
from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.fakestore.install import make_persist
from vitrine.fakestore.reader import ProductReader
from vitrine.kit.breaker import CircuitBreaker
from vitrine.kit.cache import Cache, MemoryCache, NearCache, RedisCache
from vitrine.main import create_app
from vitrine.models.user import User
from vitrine.sandbox.fakestore import FakeStoreSandbox, FakeStoreServer

REDIS_URL = os.environ.get("VITRINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# The client's timeout: generous, so a loaded CI machine never turns a healthy answer into a failure. Tests of the
# "slow" fault use SLOW_TIMEOUT and a sandbox that answers after SLOW seconds.
TIMEOUT = 3.0
SLOW_TIMEOUT = 0.3
SLOW = 5.0
BREAKER_FAILURES = 3
COOLDOWN = 30.0


def require_service(name: str, reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} unavailable: {reason}")


@dataclass
class FakeClock:
    """Wall-clock seconds that only move when a test says so (entry ages and the breaker's cool-down)."""

    now: float

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[FakeStoreServer]:
    server = FakeStoreServer().start()
    yield server
    server.stop()


@pytest.fixture
def upstream(upstream_server: FakeStoreServer) -> Iterator[FakeStoreServer]:
    """The sandbox, running, healthy and with its call counter at zero; healed again after the test."""
    upstream_server.start()
    upstream_server.sandbox.reset()
    yield upstream_server
    upstream_server.sandbox.reset()
    upstream_server.start()


@pytest.fixture
def sandbox(upstream: FakeStoreServer) -> FakeStoreSandbox:
    return upstream.sandbox


def redis_cache() -> RedisCache:
    cache = RedisCache(REDIS_URL, prefix=f"vitrine-test-fakestore:{uuid.uuid4().hex}:")
    try:
        cache._sync.ping()
    except Exception as exc:
        require_service("Redis", str(exc))
    return cache


@pytest.fixture(params=["memory", "redis", "redis-near"])
def cache(request: pytest.FixtureRequest) -> Iterator[Cache]:
    """The in-process cache, Redis, and Redis behind a near cache (what ``make_cache`` builds for the app)."""
    built: Cache
    if request.param == "memory":
        built = MemoryCache(prefix="t:")
    elif request.param == "redis":
        built = redis_cache()
    else:
        built = NearCache(redis_cache(), ttl=1.0)
    yield built
    built.clear()
    built.close()


@pytest.fixture
def memory_cache() -> Cache:
    return MemoryCache(prefix="t:")


@pytest.fixture
def fs_settings(settings: Settings, upstream: FakeStoreServer) -> Settings:
    fakestore = settings.fakestore.model_copy(
        update={
            "base_url": upstream.url,
            "timeout_seconds": TIMEOUT,
            "max_retries": 0,
            "breaker_failures": BREAKER_FAILURES,
            "breaker_cooldown_seconds": COOLDOWN,
            "cache_ttl": 300,
        }
    )
    return settings.model_copy(update={"fakestore": fakestore})


def build_reader(settings: Settings, factory: SessionFactory, cache: Cache, clock: FakeClock) -> ProductReader:
    fs = settings.fakestore
    breaker = CircuitBreaker(
        "fakestore", failure_threshold=fs.breaker_failures, cooldown=fs.breaker_cooldown_seconds, clock=clock
    )
    return ProductReader(
        settings, cache, factory, persist=make_persist(settings, factory), breaker=breaker, clock=clock
    )


def with_timeout(settings: Settings, seconds: float) -> Settings:
    return settings.model_copy(update={"fakestore": settings.fakestore.model_copy(update={"timeout_seconds": seconds})})


@pytest.fixture
def make_app(fs_settings: Settings, session_factory: SessionFactory, clock: FakeClock) -> Callable[..., FastAPI]:
    def _make(cache: Cache, settings: Settings | None = None) -> FastAPI:
        settings = settings or fs_settings
        application = create_app(settings, session_factory=session_factory)
        application.state.fakestore_reader = build_reader(settings, session_factory, cache, clock)
        return application

    return _make


@pytest.fixture
def fs_app(make_app: Callable[..., FastAPI], cache: Cache) -> FastAPI:
    return make_app(cache)


@pytest.fixture
def api(fs_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(fs_app) as client:
        yield client


def reader_of(app: FastAPI) -> ProductReader:
    reader: ProductReader = app.state.fakestore_reader
    return reader


# -- accounts --------------------------------------------------------------------------------------------------


@pytest.fixture
def make_user(session: Session) -> Callable[..., User]:
    def _make(role: str = "user") -> User:
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

    return _make


def auth(settings: Settings, user: User) -> dict[str, str]:
    token = issue(settings, user_id=user.id, typ=TokenType.access, family_id=new_family_id()).token
    return {"Authorization": f"Bearer {token}"}
