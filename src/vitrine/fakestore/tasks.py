"""FakeStore jobs: ``fakestore.upsert`` (store one upstream answer in the database copy, sent by the read path
after it answered) and ``fakestore.sync`` (the whole refresh: every category and every product)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vitrine.config import Settings
from vitrine.db import SessionFactory, session_scope
from vitrine.fakestore import service
from vitrine.fakestore.client import SyncFakeStoreClient
from vitrine.jobs.registry import JobContext, job
from vitrine.kit.clock import utcnow

Progress = Callable[[int, int | None, str], None]


def sync_copy(
    factory: SessionFactory,
    settings: Settings,
    *,
    client: SyncFakeStoreClient | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fetch the category list and the complete product listing and store both (deleting what vanished)."""
    own_client = client is None
    client = client or SyncFakeStoreClient(settings.fakestore)
    try:
        fetched_at = utcnow()
        names = client.categories()
        if progress:
            progress(1, 2, f"{len(names)} categories")
        products = client.list_products()
        if progress:
            progress(2, 2, f"{len(products)} products")
    finally:
        if own_client:
            client.close()
    payload = service.snapshot_payload(
        products=[p.model_dump(mode="json") for p in products],
        categories=names,
        complete_listing=True,
        fetched_at=fetched_at,
    )
    with session_scope(factory) as session:
        counts = service.apply_snapshot(session, payload)
    return counts.as_dict()


@job("fakestore.upsert", max_attempts=3)
def upsert(ctx: JobContext) -> dict[str, Any]:
    with session_scope(ctx.factory) as session:
        return service.apply_snapshot(session, ctx.params).as_dict()


@job("fakestore.sync", max_attempts=2)
def sync(ctx: JobContext) -> dict[str, Any]:
    return sync_copy(ctx.factory, ctx.settings, progress=lambda done, total, msg: ctx.progress(done, total, msg))
