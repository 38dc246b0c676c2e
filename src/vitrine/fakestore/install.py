"""Wire the FakeStore read path into the app (listed in ``vitrine.main.EXTENSIONS``).

The reader is built on first use from ``app.state.settings``: the cache from ``make_cache`` (Redis when
``VITRINE_REDIS_URL`` is set) unless ``app.state.fakestore_cache`` was set first (tests give each test its own key
prefix), and database-copy refreshes sent as ``fakestore.upsert`` jobs.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request

from vitrine.config import Settings
from vitrine.db import SessionFactory, session_scope
from vitrine.fakestore import service
from vitrine.fakestore.reader import Persist, ProductReader, content_digest
from vitrine.kit.cache import make_cache
from vitrine.kit.edge import Responder, add_responder

log = structlog.get_logger(__name__)

# With Redis, a process keeps what it read for this long (one round trip per hot key per second, not per request).
UPSERT_KIND = "fakestore.upsert"
SYNC_KIND = "fakestore.sync"


def persist_inline(factory: SessionFactory) -> Persist:
    def persist(payload: dict[str, Any]) -> None:
        with session_scope(factory) as session:
            service.apply_snapshot(session, payload)

    return persist


def persist_as_job(factory: SessionFactory) -> Persist:
    """Enqueue a ``fakestore.upsert`` job (sent to the runner after commit; Celery in cluster mode)."""
    from vitrine.jobs import service as jobs

    def persist(payload: dict[str, Any]) -> None:
        key = UPSERT_KIND + ":" + content_digest(payload)
        with session_scope(factory) as session:
            try:
                jobs.enqueue(session, UPSERT_KIND, payload, dedupe_key=key)
            except jobs.JobConflict:
                log.debug("fakestore_upsert_already_queued", dedupe_key=key)

    return persist


def make_persist(settings: Settings, factory: SessionFactory) -> Persist:
    mode = settings.fakestore.upsert_mode
    if mode == "inline":
        return persist_inline(factory)
    try:
        return persist_as_job(factory)
    except ModuleNotFoundError:  # no jobs system in this build: write directly (still after the response)
        return persist_inline(factory)


def build_reader(app: FastAPI) -> ProductReader:
    settings: Settings = app.state.settings
    factory: SessionFactory = app.state.session_factory
    near = settings.fakestore.near_cache_seconds
    cache = getattr(app.state, "fakestore_cache", None) or make_cache(settings, near_seconds=near)
    return ProductReader(settings, cache, factory, persist=make_persist(settings, factory))


def reader_for(app: FastAPI) -> ProductReader:
    reader: ProductReader | None = getattr(app.state, "fakestore_reader", None)
    if reader is None:
        reader = build_reader(app)
        app.state.fakestore_reader = reader
    return reader


async def get_reader(request: Request) -> ProductReader:
    """Dependency (``async``: resolving it never costs a thread-pool hop)."""
    return reader_for(request.app)


def _edge_responder(state: Any) -> Responder | None:
    reader: Responder | None = state.fakestore_reader  # created by the first product read
    return reader


def install(app: FastAPI) -> None:
    app.state.fakestore_reader = None
    app.state.fakestore_cache = None
    add_responder(app, _edge_responder)

    async def close(_app: FastAPI) -> None:
        reader: ProductReader | None = app.state.fakestore_reader
        if reader is not None:
            await reader.aclose()
            reader.cache.close()

    app.state.shutdown_hooks.append(close)
