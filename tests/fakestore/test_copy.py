"""The database copy: whole refresh (job and CLI), idempotent snapshots, removals, and the API's schema."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from vitrine.config import Settings, get_settings
from vitrine.db import SessionFactory, make_engine, make_session_factory
from vitrine.fakestore import cli, service
from vitrine.jobs.service import run_inline
from vitrine.kit.cache import Cache
from vitrine.migrate import upgrade
from vitrine.models.fakestore_category import FakeStoreCategory
from vitrine.models.fakestore_product import FakeStoreProduct
from vitrine.sandbox.fakestore import FakeStoreServer


def products(session: Session) -> list[FakeStoreProduct]:
    return list(session.scalars(select(FakeStoreProduct).order_by(FakeStoreProduct.id)))


def test_sync_job_refreshes_the_whole_copy(
    fs_settings: Settings, session_factory: SessionFactory, session: Session, upstream: FakeStoreServer
) -> None:
    job = run_inline(session_factory, fs_settings, "fakestore.sync")
    assert job.status == "succeeded", job.error
    assert job.result == {"products_upserted": 20, "products_deleted": 0, "categories": 4}
    rows = products(session)
    assert [p.id for p in rows] == list(range(1, 21))
    first = rows[0]
    assert isinstance(first.price, Decimal) and first.price == Decimal("64.50")
    assert first.rating_rate == Decimal("4.10") and first.rating_count == 132
    categories = session.scalars(select(FakeStoreCategory)).all()
    assert len(categories) == 4 and all(c.fetched_at and c.listed_at for c in categories)

    # A product that vanished upstream leaves the copy on the next whole refresh; re-runs never duplicate.
    removed = upstream.sandbox.products.pop()
    try:
        again = run_inline(session_factory, fs_settings, "fakestore.sync")
        assert again.result == {"products_upserted": 19, "products_deleted": 1, "categories": 4}
    finally:
        upstream.sandbox.products.append(removed)
    session.expire_all()
    assert len(products(session)) == 19


def test_sync_job_fails_cleanly_when_the_upstream_is_down(
    fs_settings: Settings, session_factory: SessionFactory, upstream: FakeStoreServer
) -> None:
    upstream.stop()
    job = run_inline(session_factory, fs_settings, "fakestore.sync")
    assert job.status == "failed"
    assert job.error


def test_snapshots_are_idempotent(session: Session) -> None:
    raw = {
        "id": 77,
        "title": "Thing",
        "price": 1.005,
        "description": "",
        "category": "electronics",
        "image": "",
        "rating": {"rate": 3.2, "count": "12"},  # the live service once sent a count as a string
    }
    payload = service.snapshot_payload(products=[raw])
    for _ in range(2):
        counts = service.apply_snapshot(session, payload)
        session.commit()
        assert counts.products_upserted == 1
    [row] = products(session)
    assert row.price == Decimal("1.01") and row.rating_count == 12
    assert service.stored_listing(session, None, None, service.ProductSort.asc) is None  # never listed whole


def test_vitrine_sync_fakestore_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstream: FakeStoreServer
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("VITRINE_DATABASE_URL", url)
    monkeypatch.setenv("VITRINE_FAKESTORE__BASE_URL", upstream.url)
    get_settings.cache_clear()
    app = typer.Typer()
    cli.register(app)

    @app.command()
    def other() -> None:  # a second command keeps "sync" a group
        pass

    try:
        result = CliRunner().invoke(app, ["sync", "fakestore"])
        assert result.exit_code == 0, result.output
        assert "fakestore sync succeeded" in result.output
        upstream.stop()
        failed = CliRunner().invoke(app, ["sync", "fakestore"])
        assert failed.exit_code == 1
    finally:
        get_settings.cache_clear()
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with make_session_factory(engine)() as session:
            assert len(products(session)) == 20
    finally:
        engine.dispose()


def test_sync_group_is_shared() -> None:
    app = typer.Typer()
    group = cli.sync_group(app)
    assert cli.sync_group(app) is group


def test_operation_ids_are_distinct(make_app: Callable[..., FastAPI], memory_cache: Cache) -> None:
    schema = make_app(memory_cache).openapi()
    ids = {
        path: op["operationId"]
        for path, item in schema["paths"].items()
        for op in item.values()
        if "fakestore" in path or "favorites" in path
    }
    assert len(set(ids.values())) == len(ids)
    assert schema["paths"]["/api/v1/fakestoreapi"]["get"]["operationId"] == "fakestore-list_products_legacy"
    assert schema["paths"]["/api/v1/fakestore/products"]["get"]["operationId"] == "fakestore-list_products"
