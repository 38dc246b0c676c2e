"""A repeated catalogue request is answered before routing, with the bytes the route gave, until the data changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.kit.response_cache import ResponseCache
from vitrine.main import create_app
from vitrine.models.request_log import RequestLog

API = "/api/v1"


def _client(settings: Settings, session_factory: SessionFactory, ttl: float) -> Iterator[TestClient]:
    app: FastAPI = create_app(
        settings.model_copy(update={"catalog_cache_seconds": ttl}), session_factory=session_factory
    )
    with TestClient(app) as client:
        yield client


@pytest.fixture
def cached(settings: Settings, session_factory: SessionFactory) -> Iterator[TestClient]:
    yield from _client(settings, session_factory, ttl=3600)


def _cache(client: TestClient) -> ResponseCache:
    cache: ResponseCache = client.app.state.catalog_cache  # type: ignore[attr-defined]
    return cache


def _routed(client: TestClient) -> int:
    cache = _cache(client)
    return cache.hits + cache.misses


def test_a_repeated_request_is_answered_before_routing(cached: TestClient, make_book: Any) -> None:
    make_book()
    first = cached.get(f"{API}/books?size=5&sort=-price")
    assert first.status_code == 200
    routed = _routed(cached)
    second = cached.get(f"{API}/books?size=5&sort=-price")
    assert second.status_code == 200
    assert _cache(cached).edge_hits == 1
    assert _routed(cached) == routed  # the route did not run
    assert second.content == first.content
    for header in ("etag", "cache-control", "content-type", "content-length"):
        assert second.headers[header] == first.headers[header]
    assert second.headers["x-request-id"] != first.headers["x-request-id"]


def test_another_query_string_goes_through_the_route(cached: TestClient, make_book: Any) -> None:
    make_book()
    cached.get(f"{API}/books?size=5")
    routed = _routed(cached)
    assert cached.get(f"{API}/books?size=6").json()["size"] == 6
    assert _routed(cached) == routed + 1
    assert _cache(cached).edge_hits == 0


def test_if_none_match_gets_a_304_at_the_edge(cached: TestClient, make_book: Any) -> None:
    make_book()
    etag = cached.get(f"{API}/books/1").headers["etag"]
    r = cached.get(f"{API}/books/1", headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == etag
    assert _cache(cached).edge_hits == 1
    assert cached.get(f"{API}/books/1", headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize("path", ["/books/999", "/books?size=0", "/books/search", "/nope"])
def test_errors_are_never_answered_at_the_edge(cached: TestClient, path: str) -> None:
    statuses = {cached.get(f"{API}{path}").status_code for _ in range(3)}
    assert len(statuses) == 1 and statuses.pop() >= 400
    cache = getattr(cached.app.state, "catalog_cache", None)  # type: ignore[attr-defined]
    assert cache is None or cache.edge_hits == 0


def test_a_change_made_here_is_seen_at_once(cached: TestClient, make_book: Any) -> None:
    make_book()
    assert cached.get(f"{API}/books").json()["total"] == 1
    assert cached.get(f"{API}/books").json()["total"] == 1
    assert _cache(cached).edge_hits == 1
    make_book()
    _cache(cached).invalidate()  # what a write in this process does (the admin data routes call it)
    assert cached.get(f"{API}/books").json()["total"] == 2


def test_a_change_made_elsewhere_is_seen_within_the_interval(
    settings: Settings, session_factory: SessionFactory, make_book: Any
) -> None:
    for client in _client(settings, session_factory, ttl=0.05):
        make_book()
        assert client.get(f"{API}/books").json()["total"] == 1
        make_book()  # as a crawl in another process would: this app's cache is not told
        deadline = time.monotonic() + 5
        total = 1
        while total != 2 and time.monotonic() < deadline:
            total = client.get(f"{API}/books").json()["total"]
            time.sleep(0.02)
        assert total == 2


def test_edge_answers_are_logged_under_their_route(cached: TestClient, make_book: Any, session: Session) -> None:
    make_book()
    for _ in range(3):
        assert cached.get(f"{API}/books/1").status_code == 200
    assert _cache(cached).edge_hits == 2
    cached.app.state.request_log.flush()  # type: ignore[attr-defined]
    routes = session.scalars(select(RequestLog.route).order_by(RequestLog.id)).all()
    assert routes[-3:] == ["/api/v1/books/{book_id}"] * 3
