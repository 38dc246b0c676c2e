"""Fixtures for the crawler: fast-retry settings and a books sandbox on a real local port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.models import Book, BookChange, Category, CrawlPage, ScrapeRun
from vitrine.sandbox.books_site import BooksSite
from vitrine.sandbox.server import ThreadedServer


@pytest.fixture
def crawl_settings(settings: Settings) -> Settings:
    """Retries that back off in milliseconds, so fault tests stay fast."""
    scraping = settings.scraping.model_copy(
        update={
            "concurrency": 4,
            "max_retries": 3,
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.05,
            "timeout_seconds": 5.0,
            "requests_per_second": 0.0,
        }
    )
    return settings.model_copy(update={"scraping": scraping})


@dataclass
class Sandbox:
    site: BooksSite
    server: ThreadedServer

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def _make(**options: Any) -> Sandbox:
        options.setdefault("books", 45)
        options.setdefault("categories", 6)
        site = BooksSite(**options)
        sandbox = Sandbox(site, ThreadedServer(site).start())
        started.append(sandbox)
        return sandbox

    yield _make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def table_counts(session_factory: SessionFactory) -> Callable[[], dict[str, Any]]:
    """Row counts and latest ``updated_at`` of the crawler's tables (to prove a re-run touched nothing)."""

    def _read() -> dict[str, Any]:
        with session_factory() as session:
            return _counts(session)

    return _read


def _counts(session: Session) -> dict[str, Any]:
    return {
        "books": session.scalar(select(func.count()).select_from(Book)),
        "categories": session.scalar(select(func.count()).select_from(Category)),
        "changes": session.scalar(select(func.count()).select_from(BookChange)),
        "pages": session.scalar(select(func.count()).select_from(CrawlPage)),
        "runs": session.scalar(select(func.count()).select_from(ScrapeRun)),
        "books_updated_at": session.scalar(select(func.max(Book.updated_at))),
        "categories_updated_at": session.scalar(select(func.max(Category.updated_at))),
    }
