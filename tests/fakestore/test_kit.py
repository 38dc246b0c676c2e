"""The generic pieces the FakeStore integration is built on: circuit breaker, cache (Redis and in-process) with its
single-flight lock, and the outbound HTTP client (over real HTTP against the sandbox)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

from vitrine.kit.breaker import CircuitBreaker, CircuitOpen
from vitrine.kit.cache import Cache, MemoryCache, NearCache, RedisCache, asingle_flight, make_cache, single_flight
from vitrine.kit.http import (
    DEFAULT_USER_AGENT,
    AsyncHttpClient,
    ClientConfig,
    HttpClient,
    InvalidResponse,
    RetryPolicy,
    UpstreamStatusError,
    parse_retry_after,
)
from vitrine.observability.metrics import UPSTREAM_CALLS
from vitrine.sandbox.fakestore import FakeStoreSandbox, FakeStoreServer

from .conftest import FakeClock

# -- breaker ---------------------------------------------------------------------------------------------------


def test_breaker_state_machine(clock: FakeClock) -> None:
    breaker = CircuitBreaker("t", failure_threshold=2, cooldown=10, clock=clock)
    assert breaker.allow() and breaker.state == "closed"
    breaker.record_failure()
    breaker.record_success()  # a success resets the consecutive count
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow() and breaker.is_open()
    with pytest.raises(CircuitOpen):
        breaker.check()
    assert breaker.retry_in() == 10
    clock.advance(10)
    assert breaker.state == "half_open" and not breaker.is_open()
    assert breaker.allow()  # the one probe
    assert not breaker.allow() and breaker.is_open()  # nobody else while it is out
    breaker.record_failure()
    assert breaker.state == "open" and breaker.opened_count == 2
    clock.advance(10)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_breaker_released_probe_can_be_taken_again(clock: FakeClock) -> None:
    breaker = CircuitBreaker("t", failure_threshold=1, cooldown=1, clock=clock)
    breaker.record_failure()
    clock.advance(1)
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()


# -- cache -----------------------------------------------------------------------------------------------------


def test_cache_roundtrip_and_lock(cache: Cache) -> None:
    assert cache.get("k") is None
    cache.set("k", b"v1", 60)
    assert cache.get("k") == b"v1"
    cache.set("k", b"v2", 60)
    assert cache.get("k") == b"v2"
    cache.delete("k")
    assert cache.get("k") is None

    token = cache.try_lock("lock:a", 60)
    assert token is not None
    assert cache.try_lock("lock:a", 60) is None
    cache.unlock("lock:a", "not-the-token")  # only the holder can release
    assert cache.try_lock("lock:a", 60) is None
    cache.unlock("lock:a", token)
    assert cache.try_lock("lock:a", 60) is not None


def test_cache_async_interface(cache: Cache) -> None:
    async def scenario() -> None:
        await cache.aset("x", b"1", 60)
        assert await cache.aget("x") == b"1"
        async with asingle_flight(cache, "lock:x", 60) as mine:
            assert mine
            async with asingle_flight(cache, "lock:x", 60) as second:
                assert not second
        async with asingle_flight(cache, "lock:x", 60) as again:
            assert again
        await cache.adelete("x")
        assert await cache.aget("x") is None
        await cache.aclose()

    asyncio.run(scenario())


def test_single_flight_lets_one_thread_in(cache: Cache) -> None:
    barrier = threading.Barrier(8)
    winners: list[bool] = []
    decided = threading.Condition()
    release = threading.Event()

    def contend() -> None:
        barrier.wait()
        with single_flight(cache, "lock:many", 60) as mine:
            with decided:
                winners.append(mine)
                decided.notify_all()
            if mine:
                release.wait(5)  # hold the lock until every other thread has been refused

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for t in threads:
        t.start()
    with decided:
        assert decided.wait_for(lambda: len(winners) == 8, timeout=5)
    release.set()
    for t in threads:
        t.join()
    assert winners.count(True) == 1


def test_memory_cache_is_bounded_and_keys_are_separate() -> None:
    cache = MemoryCache(max_entries=2)
    cache.set("a", b"1", 60)
    cache.set("b", b"2", 60)
    cache.get("a")
    cache.set("c", b"3", 60)  # evicts the least recently used ("b")
    assert cache.get("b") is None and cache.get("a") == b"1" and cache.get("c") == b"3"
    cache.set("zero", b"x", 0)
    assert cache.get("zero") is None  # a zero ttl is already expired


def test_make_cache_picks_the_backend(settings: object) -> None:
    assert isinstance(make_cache(settings), MemoryCache)  # type: ignore[arg-type]
    with_redis = settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"})  # type: ignore[attr-defined]
    built = make_cache(with_redis, prefix="p:")
    assert isinstance(built, RedisCache) and built.prefix == "p:"
    built.close()
    near = make_cache(with_redis, prefix="p:", near_seconds=1)
    assert isinstance(near, NearCache) and near.backend == "redis+near"
    near.close()


def test_near_cache_serves_hot_keys_without_a_round_trip() -> None:
    shared = MemoryCache()
    near = NearCache(shared, ttl=60)
    near.set("k", b"1", 300)
    shared.set("k", b"2", 300)  # another process's write
    assert near.get("k") == b"1"  # seen late (at most ttl)
    assert near.get("missing") is None
    shared.set("missing", b"now", 300)
    assert near.get("missing") == b"now"  # misses are not remembered
    near.delete("k")
    assert near.get("k") is None and shared.get("k") is None


def test_redis_outage_degrades_to_misses_and_granted_locks() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0", prefix="x:", socket_timeout=0.2)
    assert cache.get("k") is None
    cache.set("k", b"v", 10)  # no exception
    assert cache.try_lock("lock", 10) is not None
    cache.close()


# -- outbound HTTP ---------------------------------------------------------------------------------------------


def config(server: FakeStoreServer, timeout: float = 3.0, **kwargs: object) -> ClientConfig:
    policy = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.5)
    return ClientConfig(service="test", base_url=server.url, timeout=timeout, policy=policy, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def http(upstream: FakeStoreServer) -> Iterator[HttpClient]:
    with HttpClient(config(upstream)) as client:
        yield client


def outcome_count(outcome: str) -> float:
    return UPSTREAM_CALLS.labels("test", outcome)._value.get()


def test_retries_on_5xx_then_succeeds_and_counts_every_attempt(http: HttpClient, sandbox: FakeStoreSandbox) -> None:
    before_ok, before_5xx = outcome_count("ok"), outcome_count("server_error")
    sandbox.set_fault("error", times=2)
    response = http.get("/products/1")
    assert response.status_code == 200 and response.json()["id"] == 1
    assert sandbox.calls == 3
    assert outcome_count("server_error") - before_5xx == 2
    assert outcome_count("ok") - before_ok == 1
    assert sandbox.last_user_agent == DEFAULT_USER_AGENT
    assert "Vitrine" in DEFAULT_USER_AGENT


def test_gives_up_after_max_retries(http: HttpClient, sandbox: FakeStoreSandbox) -> None:
    sandbox.set_fault("error")
    assert http.get("/products/1").status_code == 500
    assert sandbox.calls == 3
    with pytest.raises(UpstreamStatusError):
        http.call("GET", "/products/1", lambda r: r.json())


def test_honours_retry_after_on_429(http: HttpClient, sandbox: FakeStoreSandbox) -> None:
    sandbox.retry_after = "0"
    sandbox.set_fault("rate_limited", times=1)
    assert http.get("/products/2").status_code == 200
    assert sandbox.calls == 2
    sandbox.retry_after = "3600"  # longer than we would hold a caller: no retry
    sandbox.set_fault("rate_limited", times=1)
    assert http.get("/products/2").status_code == 429
    assert sandbox.calls == 3
    sandbox.retry_after = "1"


def test_parser_rejections_are_retried_and_raised(http: HttpClient, sandbox: FakeStoreSandbox) -> None:
    def parse(response: httpx.Response) -> object:
        try:
            return response.json()
        except ValueError as exc:
            raise InvalidResponse("not json") from exc

    sandbox.set_fault("malformed")
    with pytest.raises(InvalidResponse):
        http.call("GET", "/products", parse)
    assert sandbox.calls == 3
    sandbox.set_fault("malformed", times=1)
    assert len(http.call("GET", "/products", parse)) == 20  # type: ignore[arg-type]


def test_network_errors_and_timeouts_raise_after_retries(upstream: FakeStoreServer) -> None:
    with HttpClient(config(upstream, timeout=0.3)) as client:
        upstream.sandbox.set_fault("slow", delay=5)
        with pytest.raises(httpx.TimeoutException):
            client.get("/products")
        assert upstream.sandbox.calls == 3
        upstream.stop()
        with pytest.raises(httpx.ConnectError):
            client.get("/products")


def test_breaker_stops_calls(upstream: FakeStoreServer, clock: FakeClock) -> None:
    breaker = CircuitBreaker("test", failure_threshold=2, cooldown=5, clock=clock)
    with HttpClient(config(upstream, breaker=breaker)) as client:
        upstream.sandbox.set_fault("error")
        client.get("/products/1")  # two failed attempts open the breaker; the retry loop stops there
        assert upstream.sandbox.calls == 2
        with pytest.raises(CircuitOpen):
            client.get("/products/1")
        assert upstream.sandbox.calls == 2
        clock.advance(5)
        upstream.sandbox.heal()
        assert client.get("/products/1").status_code == 200
        assert breaker.state == "closed"


def test_async_client_same_policy(upstream: FakeStoreServer) -> None:
    async def scenario() -> tuple[int, int]:
        client = AsyncHttpClient(config(upstream))
        try:
            upstream.sandbox.set_fault("error", times=1)
            response = await client.get("/products/3")
            return response.status_code, upstream.sandbox.calls
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == (200, 2)


def test_rate_limit_spaces_requests(upstream: FakeStoreServer) -> None:
    with HttpClient(config(upstream, rate_per_second=1000)) as client:
        limiter = client._policy.limiter
        assert limiter.reserve("h") == 0
        assert 0 < limiter.reserve("h") <= 0.001
        assert client.get("/products/1").status_code == 200


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
