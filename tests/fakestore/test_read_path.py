"""The resilient read path over real HTTP against the sandbox upstream, with the real Redis and the in-process
cache: fresh cache -> upstream -> stale cache -> database copy -> 503."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vitrine.config import Settings
from vitrine.kit.cache import Cache, NearCache
from vitrine.models.fakestore_category import FakeStoreCategory
from vitrine.models.fakestore_product import FakeStoreProduct
from vitrine.models.job_run import JobRun
from vitrine.sandbox.fakestore import FakeStoreSandbox, FakeStoreServer

from .conftest import BREAKER_FAILURES, COOLDOWN, SLOW, SLOW_TIMEOUT, FakeClock, reader_of, with_timeout

PRODUCTS = "/api/v1/fakestore/products"
CATEGORIES = "/api/v1/fakestore/categories"
TTL = 300


def source(response: httpx.Response) -> str:
    return response.headers["x-vitrine-source"]


def product_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(FakeStoreProduct)) or 0)


def test_miss_fills_cache_and_copy_then_hit_makes_no_upstream_call(
    api: TestClient, sandbox: FakeStoreSandbox, session: Session
) -> None:
    first = api.get(PRODUCTS)
    assert first.status_code == 200, first.text
    assert source(first) == "upstream"
    assert first.headers["age"] == "0"
    body = first.json()
    assert body["total"] == 20
    assert [p["id"] for p in body["items"]] == list(range(1, 21))
    assert isinstance(body["items"][0]["price"], float)
    assert sandbox.calls == 1

    # The database copy was written by a fakestore.upsert job after the response.
    assert product_count(session) == 20
    jobs = session.scalars(select(JobRun).where(JobRun.kind == "fakestore.upsert")).all()
    assert [job.status for job in jobs] == ["succeeded"]
    assert jobs[0].result == {"products_upserted": 20, "products_deleted": 0, "categories": 0}
    listed = session.scalars(select(FakeStoreCategory)).all()
    assert {c.name for c in listed} == {"electronics", "jewelery", "men's clothing", "women's clothing"}
    assert all(c.listed_at is not None for c in listed)

    for _ in range(3):
        again = api.get(PRODUCTS)
        assert again.status_code == 200
        assert source(again) == "cache"
        assert again.content == first.content
    assert sandbox.calls == 1


def test_list_and_detail_entries_never_leak_into_each_other(api: TestClient, sandbox: FakeStoreSandbox) -> None:
    detail = api.get(f"{PRODUCTS}/1")
    assert detail.json()["id"] == 1
    whole = api.get(PRODUCTS)
    assert whole.json()["total"] == 20  # the old bug: one product after a detail lookup
    jewelery = api.get(PRODUCTS, params={"category": "jewelery"})
    assert {p["category"] for p in jewelery.json()["items"]} == {"jewelery"}
    assert jewelery.json()["total"] == 4
    limited = api.get(PRODUCTS, params={"limit": 3})
    assert [p["id"] for p in limited.json()["items"]] == [1, 2, 3]
    descending = api.get(PRODUCTS, params={"limit": 3, "sort": "desc"})
    assert [p["id"] for p in descending.json()["items"]] == [20, 19, 18]
    in_category_desc = api.get(PRODUCTS, params={"category": "jewelery", "sort": "desc", "limit": 2})
    assert [p["id"] for p in in_category_desc.json()["items"]] == [8, 7]
    other = api.get(f"{PRODUCTS}/2")
    assert other.json()["id"] == 2 and "items" not in other.json()
    assert sandbox.calls == 7

    responses = [detail, whole, jewelery, limited, descending, in_category_desc, other]
    paths = [
        f"{PRODUCTS}/1",
        PRODUCTS,
        f"{PRODUCTS}?category=jewelery",
        f"{PRODUCTS}?limit=3",
        f"{PRODUCTS}?limit=3&sort=desc",
        f"{PRODUCTS}?category=jewelery&sort=desc&limit=2",
        f"{PRODUCTS}/2",
    ]
    for path, earlier in zip(paths, responses, strict=True):
        cached = api.get(path)
        assert source(cached) == "cache", path
        assert cached.content == earlier.content, path
    assert sandbox.calls == 7


def test_unknown_id_is_a_404_and_is_cached(api: TestClient, sandbox: FakeStoreSandbox) -> None:
    missing = api.get(f"{PRODUCTS}/999")
    assert missing.status_code == 404
    assert missing.json() == {"error": "NotFound", "detail": "Product 999 not found"}
    assert source(missing) == "upstream"
    again = api.get(f"{PRODUCTS}/999")
    assert again.status_code == 404 and source(again) == "cache"
    assert sandbox.calls == 1
    assert api.get(f"{PRODUCTS}/0").status_code == 422
    assert api.get(f"{PRODUCTS}/abc").status_code == 422
    assert api.get(PRODUCTS, params={"sort": "sideways"}).status_code == 422
    assert sandbox.calls == 1


def test_categories_and_legacy_aliases(api: TestClient, sandbox: FakeStoreSandbox) -> None:
    names = api.get(CATEGORIES)
    assert names.json() == {
        "items": ["electronics", "jewelery", "men's clothing", "women's clothing"],
        "total": 4,
    }
    men = api.get(PRODUCTS, params={"category": "men's clothing"})
    assert men.json()["total"] == 4
    assert api.get(PRODUCTS, params={"category": "nothing"}).json() == {"items": [], "total": 0}
    legacy_list = api.get("/api/v1/fakestoreapi", params={"category": "men's clothing"})
    assert legacy_list.content == men.content and source(legacy_list) == "cache"
    legacy_detail = api.get("/api/v1/fakestoreapi/5")
    assert legacy_detail.json()["id"] == 5
    assert api.get(f"{PRODUCTS}/5").content == legacy_detail.content


FAULTS = ["error", "slow", "malformed", "wrong_shape", "null", "down"]


def break_upstream(upstream: FakeStoreServer, fault: str) -> None:
    if fault == "down":
        upstream.stop()
    else:
        upstream.sandbox.set_fault(fault, delay=SLOW)


@pytest.fixture
def fault_api(make_app: Callable[..., FastAPI], fs_settings: Settings, cache: Cache) -> Iterator[TestClient]:
    """An app whose client gives up after SLOW_TIMEOUT, so the "slow" fault is a timeout."""
    with TestClient(make_app(cache, with_timeout(fs_settings, SLOW_TIMEOUT))) as client:
        yield client


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_served_from_stale_cache_then_from_the_database(
    fault_api: TestClient, upstream: FakeStoreServer, cache: Cache, clock: FakeClock, fault: str
) -> None:
    api = fault_api
    paths = [PRODUCTS, f"{PRODUCTS}/7", f"{PRODUCTS}?category=electronics&sort=desc", CATEGORIES]
    warm = {path: api.get(path) for path in paths}
    assert all(r.status_code == 200 and source(r) == "upstream" for r in warm.values())
    clock.advance(TTL + 5)
    break_upstream(upstream, fault)

    for path in paths:
        stale = api.get(path)
        assert stale.status_code == 200, (path, stale.text)
        assert source(stale) == "stale-cache", path
        assert int(stale.headers["age"]) >= TTL
        assert stale.content == warm[path].content

    cache.clear()
    for path in paths:
        copy = api.get(path)
        assert copy.status_code == 200, (path, copy.text)
        assert source(copy) == "database", path
        assert int(copy.headers["age"]) >= TTL
        assert copy.json() == warm[path].json()
        # The copy's answer is now cached with its real fetch time: the next read needs no query.
        assert source(api.get(path)) == "stale-cache"


def test_never_seen_and_upstream_down_is_a_clear_503(api: TestClient, upstream: FakeStoreServer) -> None:
    upstream.stop()
    response = api.get(f"{PRODUCTS}/3")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "UpstreamUnavailable"
    assert "product 3 has never been fetched" in body["detail"]
    assert int(response.headers["retry-after"]) >= 1


def test_never_seen_and_invalid_answer_is_a_502(api: TestClient, sandbox: FakeStoreSandbox) -> None:
    sandbox.set_fault("malformed")
    response = api.get(PRODUCTS)
    assert response.status_code == 502
    assert response.json()["error"] == "UpstreamError"
    sandbox.set_fault("wrong_shape")
    assert api.get(f"{PRODUCTS}/4").status_code == 502


def test_the_copy_never_answers_a_list_it_has_not_seen_whole(api: TestClient, upstream: FakeStoreServer) -> None:
    assert api.get(f"{PRODUCTS}/1").status_code == 200
    assert api.get(PRODUCTS, params={"limit": 2}).status_code == 200
    assert api.get(PRODUCTS, params={"category": "jewelery"}).status_code == 200
    reader_of(api.app).cache.clear()  # type: ignore[arg-type]
    upstream.stop()
    assert source(api.get(f"{PRODUCTS}/1")) == "database"
    assert api.get(PRODUCTS).status_code == 503  # only some products are known: no partial "whole" list
    assert api.get(PRODUCTS, params={"category": "electronics"}).status_code == 503
    jewelery = api.get(PRODUCTS, params={"category": "jewelery", "limit": 2, "sort": "desc"})
    assert source(jewelery) == "database"
    assert [p["id"] for p in jewelery.json()["items"]] == [8, 7]
    assert api.get(CATEGORIES).status_code == 503


def test_breaker_opens_after_repeated_failures_and_closes_after_a_good_probe(
    api: TestClient, sandbox: FakeStoreSandbox, clock: FakeClock
) -> None:
    breaker = reader_of(api.app).breaker  # type: ignore[arg-type]
    sandbox.set_fault("error")
    for product_id in range(1, BREAKER_FAILURES + 1):
        assert api.get(f"{PRODUCTS}/{product_id}").status_code == 503
    assert sandbox.calls == BREAKER_FAILURES
    assert breaker.state == "open"

    sandbox.heal()
    refused = api.get(f"{PRODUCTS}/10")  # open: no call at all, answered at once
    assert refused.status_code == 503 and "circuit open" in refused.json()["detail"]
    assert sandbox.calls == BREAKER_FAILURES

    clock.advance(COOLDOWN + 1)
    assert breaker.state == "half_open"
    sandbox.set_fault("error")
    assert api.get(f"{PRODUCTS}/10").status_code == 503  # the probe fails: open again
    assert sandbox.calls == BREAKER_FAILURES + 1
    assert breaker.state == "open"
    assert api.get(f"{PRODUCTS}/11").status_code == 503
    assert sandbox.calls == BREAKER_FAILURES + 1

    clock.advance(COOLDOWN + 1)
    sandbox.heal()
    probe = api.get(f"{PRODUCTS}/10")
    assert probe.status_code == 200 and source(probe) == "upstream"
    assert breaker.state == "closed"
    assert api.get(f"{PRODUCTS}/11").status_code == 200
    assert sandbox.calls == BREAKER_FAILURES + 3


def test_open_breaker_serves_stale_without_calling(
    api: TestClient, sandbox: FakeStoreSandbox, clock: FakeClock
) -> None:
    assert api.get(f"{PRODUCTS}/2").status_code == 200
    clock.advance(TTL + 1)
    sandbox.set_fault("error")
    for product_id in range(3, 3 + BREAKER_FAILURES):
        api.get(f"{PRODUCTS}/{product_id}")
    calls = sandbox.calls
    stale = api.get(f"{PRODUCTS}/2")
    assert stale.status_code == 200 and source(stale) == "stale-cache"
    assert sandbox.calls == calls


def test_retries_ride_out_a_transient_5xx(
    make_app: Callable[..., FastAPI], fs_settings: object, cache: Cache, sandbox: FakeStoreSandbox
) -> None:
    settings = fs_settings.model_copy(  # type: ignore[attr-defined]
        update={"fakestore": fs_settings.fakestore.model_copy(update={"max_retries": 2})}  # type: ignore[attr-defined]
    )
    with TestClient(make_app(cache, settings)) as client:
        sandbox.set_fault("error", times=2)
        response = client.get(f"{PRODUCTS}/6")
        assert response.status_code == 200 and source(response) == "upstream"
        assert sandbox.calls_to("/products/6") == 3


async def _gather(app: FastAPI, paths: list[str]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return list(await asyncio.gather(*(client.get(path) for path in paths)))


def test_concurrent_misses_make_one_upstream_call(fs_app: FastAPI, sandbox: FakeStoreSandbox) -> None:
    sandbox.set_fault("slow", delay=0.2)  # slower than the requests' arrival, faster than the timeout
    # One key per batch: each batch's single database-copy refresh then runs alone on the test's connection.
    details = asyncio.run(_gather(fs_app, [f"{PRODUCTS}/5"] * 20))
    lists = asyncio.run(_gather(fs_app, [PRODUCTS] * 20))
    assert all(r.status_code == 200 for r in details + lists)
    assert {r.json()["id"] for r in details} == {5}
    assert all(r.json()["total"] == 20 for r in lists)
    assert sandbox.call_log() == {"/products/5": 1, "/products": 1}


def test_one_refresh_per_key_across_processes(
    make_app: Callable[..., FastAPI], cache: Cache, sandbox: FakeStoreSandbox
) -> None:
    """Two app instances (two processes' worth of in-process state) sharing one cache make one upstream call."""
    # Each "process" has its own near cache in front of the shared one.
    other = NearCache(cache.inner, ttl=cache.ttl) if isinstance(cache, NearCache) else cache
    first, second = make_app(cache), make_app(other)
    sandbox.set_fault("slow", delay=0.2)

    async def both() -> list[httpx.Response]:
        a, b = await asyncio.gather(_gather(first, [f"{PRODUCTS}/9"] * 5), _gather(second, [f"{PRODUCTS}/9"] * 5))
        return a + b

    responses = asyncio.run(both())
    assert all(r.status_code == 200 and r.json()["id"] == 9 for r in responses)
    assert sandbox.calls_to("/products/9") == 1
    assert {source(r) for r in responses} == {"upstream", "cache"}


def test_stale_while_revalidate_serves_at_once_and_refreshes_once(
    api: TestClient, sandbox: FakeStoreSandbox, clock: FakeClock
) -> None:
    reader = reader_of(api.app)  # type: ignore[arg-type]
    reader.stale_while_revalidate = True
    assert source(api.get(f"{PRODUCTS}/12")) == "upstream"
    clock.advance(TTL + 1)
    sandbox.set_fault("slow", delay=1.0)  # the refresh is still running while the five reads are served
    served = [api.get(f"{PRODUCTS}/12") for _ in range(5)]
    assert all(r.status_code == 200 and source(r) == "stale-cache" for r in served)
    assert reader.wait_idle(10)
    assert sandbox.calls_to("/products/12") == 2  # the first fill, then one background refresh
    fresh = api.get(f"{PRODUCTS}/12")
    assert source(fresh) == "cache" and fresh.headers["age"] == "0"


def test_a_product_removed_by_the_whole_refresh_becomes_a_404(
    api: TestClient, upstream: FakeStoreServer, clock: FakeClock, fs_settings: object, session_factory: object
) -> None:
    from vitrine.jobs.service import run_inline

    assert api.get(f"{PRODUCTS}/20").status_code == 200
    removed = upstream.sandbox.products.pop()
    try:
        job = run_inline(session_factory, fs_settings, "fakestore.sync")  # type: ignore[arg-type]
        assert job.result["products_deleted"] == 1  # type: ignore[index]
        clock.advance(TTL + 1)
        gone = api.get(f"{PRODUCTS}/20")
        assert gone.status_code == 404 and source(gone) == "upstream"
    finally:
        upstream.sandbox.products.append(removed)


def test_a_refresh_running_elsewhere_is_not_waited_for_when_a_stale_copy_exists(
    api: TestClient, cache: Cache, sandbox: FakeStoreSandbox, clock: FakeClock
) -> None:
    assert api.get(f"{PRODUCTS}/4").status_code == 200
    clock.advance(TTL + 1)
    token = cache.try_lock("lock:fakestore:v1:product:4", 60)  # "another process" is fetching product 4
    assert token is not None
    try:
        stale = api.get(f"{PRODUCTS}/4")
        assert stale.status_code == 200 and source(stale) == "stale-cache"
        assert sandbox.calls_to("/products/4") == 1
    finally:
        cache.unlock("lock:fakestore:v1:product:4", token)
    assert source(api.get(f"{PRODUCTS}/4")) == "upstream"


def test_an_unchanged_answer_refreshes_the_copy_once_per_interval(
    api: TestClient, clock: FakeClock, session: Session
) -> None:
    for _ in range(3):
        assert source(api.get(f"{PRODUCTS}/8")) == "upstream"
        clock.advance(TTL + 1)
    upserts = session.scalars(select(JobRun).where(JobRun.kind == "fakestore.upsert")).all()
    assert len(upserts) == 1


def test_a_repeated_cached_read_is_answered_before_routing_until_it_expires(
    api: TestClient, sandbox: FakeStoreSandbox, clock: FakeClock
) -> None:
    path = f"{PRODUCTS}?category=jewelery&limit=2"
    assert source(api.get(path)) == "upstream"
    routed = api.get(path)  # answered by the route from the cache: the edge learns this request
    reader = reader_of(api.app)  # type: ignore[arg-type]
    assert reader.edge_hits == 0
    clock.advance(7)
    edge = api.get(path)
    assert reader.edge_hits == 1
    assert edge.status_code == 200
    assert edge.content == routed.content
    assert source(edge) == "cache"
    assert edge.headers["age"] in {"6", "7"}  # the stored time keeps milliseconds
    assert edge.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert source(api.get(f"{PRODUCTS}?category=jewelery&limit=3")) == "upstream"  # another request: the route
    assert reader.edge_hits == 1
    assert sandbox.calls == 2  # the first read and the other query string; none for the edge answer

    clock.advance(TTL)  # expired: the edge declines and the route asks the upstream again
    assert source(api.get(path)) == "upstream"
    assert reader.edge_hits == 1
    assert sandbox.calls == 3
