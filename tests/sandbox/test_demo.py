"""The offline demo: both sandboxes up, settings pointed at them, the catalogue crawled from the local site."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from vitrine.config import get_settings
from vitrine.models import Book
from vitrine.sandbox.cli import Demo, prepare_demo

_KEYS = ("VITRINE_ENV", "VITRINE_DATABASE_URL", "VITRINE_BOOKS_BASE_URL", "VITRINE_FAKESTORE__BASE_URL")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    saved = {key: os.environ.get(key) for key in _KEYS}
    running = prepare_demo(tmp_path / "demo.db", books=40)
    try:
        yield running
    finally:
        running.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


def test_demo_crawls_the_local_site_and_points_at_the_sandboxes(demo: Demo) -> None:
    engine = create_engine(demo.database_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Book)) == 40
    finally:
        engine.dispose()
    settings = get_settings()
    assert settings.books_base_url == demo.books_site.url
    products = httpx.get(f"{settings.fakestore.base_url}/products", timeout=5).json()
    assert isinstance(products, list) and products and "price" in products[0]
