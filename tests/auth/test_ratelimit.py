"""The lockout limiter (in-process and real Redis) and brute-force protection on sign-in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.auth.conftest import PASSWORD, REDIS_URL, Api, FakeClock

from vitrine.auth.guard import LoginGuard
from vitrine.config import Settings
from vitrine.kit.ratelimit import (
    AttemptLimiter,
    LockoutPolicy,
    MemoryAttemptLimiter,
    RedisAttemptLimiter,
    build_limiter,
    retry_after_header,
)
from vitrine.models.audit_event import AuditEvent
from vitrine.models.user import User

POLICY = LockoutPolicy(max_failures=3, window_seconds=60, lockout_seconds=120)


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[AttemptLimiter]:
    if request.param == "memory":
        yield MemoryAttemptLimiter(POLICY, clock=clock)
        return
    redis_client = request.getfixturevalue("redis_client")
    yield RedisAttemptLimiter(redis_client, POLICY, prefix=redis_client.test_prefix, clock=clock)


def test_locks_after_max_failures_and_releases_after_the_lockout(limiter: AttemptLimiter, clock: FakeClock) -> None:
    assert limiter.retry_after("alice") == 0
    assert limiter.record_failure("alice") == 0
    assert limiter.record_failure("alice") == 0
    assert limiter.retry_after("alice") == 0
    assert limiter.record_failure("alice") == 120
    assert limiter.retry_after("alice") == pytest.approx(120)
    assert limiter.retry_after("bob") == 0  # other keys are unaffected
    clock.advance(119)
    assert limiter.retry_after("alice") == pytest.approx(1)
    # failures while locked neither count nor extend the lock
    assert limiter.record_failure("alice") == 0
    clock.advance(1.5)
    assert limiter.retry_after("alice") == 0
    assert limiter.record_failure("alice") == 0  # a fresh count after the release


def test_failures_outside_the_window_are_forgotten(limiter: AttemptLimiter, clock: FakeClock) -> None:
    for _ in range(10):
        assert limiter.record_failure("slow") == 0
        clock.advance(31)  # never three failures within 60 s
    assert limiter.retry_after("slow") == 0


def test_reset_forgets_failures(limiter: AttemptLimiter) -> None:
    limiter.record_failure("carol")
    limiter.record_failure("carol")
    limiter.reset("carol")
    assert limiter.record_failure("carol") == 0
    assert limiter.record_failure("carol") == 0
    assert limiter.record_failure("carol") == 120


def test_redis_limiter_is_shared_between_instances(redis_client: Any, clock: FakeClock) -> None:
    """Two API processes see the same counters."""
    first = RedisAttemptLimiter(redis_client, POLICY, prefix=redis_client.test_prefix, clock=clock)
    second = RedisAttemptLimiter(redis_client, POLICY, prefix=redis_client.test_prefix, clock=clock)
    first.record_failure("dave")
    second.record_failure("dave")
    first.record_failure("dave")
    assert second.retry_after("dave") == pytest.approx(120)


def test_redis_keys_carry_the_prefix_and_never_the_raw_key(redis_client: Any, clock: FakeClock) -> None:
    limiter = RedisAttemptLimiter(redis_client, POLICY, prefix=redis_client.test_prefix, clock=clock)
    for _ in range(3):
        limiter.record_failure("erin@10.0.0.1")
    keys = list(redis_client.scan_iter(match=f"{redis_client.test_prefix}*"))
    assert keys
    assert all("erin" not in key for key in keys)
    assert all(redis_client.ttl(key) > 0 for key in keys)  # nothing lives forever


def test_unreachable_redis_degrades_to_in_process_limiting(clock: FakeClock) -> None:
    limiter = build_limiter(POLICY, redis_url="redis://127.0.0.1:1/0", prefix="vitrine-test-auth:down:", clock=clock)
    assert isinstance(limiter, RedisAttemptLimiter)
    assert limiter.record_failure("frank") == 0
    limiter.record_failure("frank")
    assert limiter.record_failure("frank") == 120
    assert limiter.retry_after("frank") == pytest.approx(120)
    limiter.reset("frank")
    limiter.close()


def test_memory_limiter_stays_bounded(clock: FakeClock) -> None:
    limiter = MemoryAttemptLimiter(POLICY, clock=clock, max_keys=100)
    for n in range(1000):
        limiter.record_failure(f"user{n}")
    assert len(limiter._failures) <= 100


def test_retry_after_header_rounds_up() -> None:
    assert retry_after_header(0.2) == "1"
    assert retry_after_header(119.01) == "120"


# Sign-in through the API


def _fail(api: Api, username: str, times: int) -> list[int]:
    return [api.login(username, "wrong-password-here").status_code for _ in range(times)]


def test_login_lockout_per_username_and_its_release(
    api: Api, make_user: Callable[..., User], clock: FakeClock, settings: Settings, session: Session
) -> None:
    make_user("target")
    assert _fail(api, "target", 5) == [401] * 5
    locked = api.login("target")  # even the right password is refused while locked
    assert locked.status_code == 429
    assert locked.json()["error"] == "RateLimited"
    assert locked.headers["retry-after"] == str(settings.auth.login_lockout_seconds)
    assert "try again in" in locked.json()["detail"]
    clock.advance(settings.auth.login_lockout_seconds - 10)
    assert api.login("target").headers["retry-after"] == "10"
    clock.advance(11)
    assert api.login("target").status_code == 200
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.login.failed").order_by(AuditEvent.id.desc()).limit(1)
    ).one()
    assert event.detail == {"reason": "bad_password", "locked_for_seconds": settings.auth.login_lockout_seconds}


def test_lockout_applies_to_unknown_usernames_too(api: Api) -> None:
    assert _fail(api, "ghost", 6)[-1] == 429


def test_success_resets_the_username_count(api: Api, make_user: Callable[..., User]) -> None:
    make_user("forgetful")
    _fail(api, "forgetful", 4)
    assert api.login("forgetful").status_code == 200
    assert _fail(api, "forgetful", 4) == [401] * 4


def test_lockout_per_client_address(app: FastAPI, make_user: Callable[..., User], settings: Settings) -> None:
    make_user("innocent")
    attacker = Api(TestClient(app, client=("203.0.113.7", 4000)))
    limit = 4 * settings.auth.login_max_failures
    codes = [attacker.login(f"victim{n}", "password-guess").status_code for n in range(limit + 1)]
    assert codes[:limit] == [401] * limit
    assert codes[limit] == 429
    assert attacker.login("innocent").status_code == 429
    # the same account from another address is fine
    assert Api(TestClient(app, client=("198.51.100.2", 4000))).login("innocent").status_code == 200


def test_login_lockout_through_redis(
    app: FastAPI, api: Api, make_user: Callable[..., User], redis_client: Any, settings: Settings, clock: FakeClock
) -> None:
    redis_settings = settings.model_copy(update={"redis_url": REDIS_URL})
    guard = LoginGuard.from_settings(redis_settings, clock=clock, prefix=redis_client.test_prefix)
    assert isinstance(guard.by_username, RedisAttemptLimiter)
    app.state.login_guard = guard
    make_user("shared")
    assert _fail(api, "shared", 5) == [401] * 5
    # another API process with its own guard sees the lock
    other = LoginGuard.from_settings(redis_settings, clock=clock, prefix=redis_client.test_prefix)
    assert other.retry_after("shared", None) == pytest.approx(settings.auth.login_lockout_seconds)
    assert api.login("shared", PASSWORD).status_code == 429
    clock.advance(settings.auth.login_lockout_seconds + 1)
    assert api.login("shared", PASSWORD).status_code == 200
    guard.close()
    other.close()


def test_self_registrations_are_capped_per_client_address(
    app: FastAPI, api: Api, admin: User, settings: Settings, clock: FakeClock, session: Session
) -> None:
    capped = settings.model_copy(update={"auth": settings.auth.model_copy(update={"signup_max_per_address": 3})})
    app.state.login_guard = LoginGuard.from_settings(capped, clock=clock)
    admin_headers = api.headers("root")  # signed in before the cap is used up
    flood = TestClient(app, client=("203.0.113.9", 4000))

    def signup(client: TestClient, name: str, headers: dict[str, str] | None = None) -> Any:
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        return client.post("/api/v1/users", json=body, headers=headers or {})

    assert [signup(flood, f"bot{n}").status_code for n in range(3)] == [201] * 3
    refused = signup(flood, "bot3")
    assert refused.status_code == 429
    assert refused.json()["error"] == "RateLimited"
    assert int(refused.headers["retry-after"]) == settings.auth.signup_window_seconds
    assert session.scalar(select(User).where(User.username == "bot3")) is None
    # Another address may register; an administrator creating accounts is not capped.
    assert signup(TestClient(app, client=("198.51.100.3", 4000)), "human").status_code == 201
    assert signup(flood, "staff", headers=admin_headers).status_code == 201
    # After the window the address may register again.
    clock.advance(settings.auth.signup_window_seconds + 1)
    assert signup(flood, "bot4").status_code == 201
