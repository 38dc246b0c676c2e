"""All SQL of the crawler: bulk loads of what is stored, batched inserts/updates, the run record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, insert, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from vitrine.models import Book, BookChange, Category, CrawlPage, ScrapeRun


def _table(model: type[Any]) -> Table:
    """The Core table of a model: plain Core INSERTs skip the ORM's bulk bookkeeping on the hot path."""
    return cast(Table, model.__table__)


REQUIRED_TABLES = ("books", "categories", "book_changes", "scrape_runs", "crawl_pages")


@dataclass(frozen=True, slots=True)
class StoredBook:
    """The stored fields a crawl compares against (one tuple per book, loaded once per run)."""

    title: str
    price: Decimal
    rating: int
    availability: int
    category: str
    upc: str
    description: str
    image_url: str
    url: str


@dataclass(frozen=True, slots=True)
class StoredPage:
    kind: str
    etag: str | None
    last_modified: str | None
    links: list[str]
    next_url: str | None
    book_id: int | None


@dataclass(frozen=True, slots=True)
class StoredCategory:
    slug: str
    url: str


def missing_tables(engine: Engine) -> list[str]:
    present = set(inspect(engine).get_table_names())
    return [name for name in REQUIRED_TABLES if name not in present]


def load_books(session: Session) -> dict[int, StoredBook]:
    rows = session.execute(
        select(
            Book.id,
            Book.title,
            Book.price,
            Book.rating,
            Book.availability,
            Book.category,
            Book.upc,
            Book.description,
            Book.image_url,
            Book.url,
        )
    )
    return {
        row.id: StoredBook(
            title=row.title,
            price=row.price,
            rating=row.rating,
            availability=row.availability,
            category=row.category,
            upc=row.upc,
            description=row.description,
            image_url=row.image_url,
            url=row.url,
        )
        for row in rows
    }


def load_pages(session: Session) -> dict[str, StoredPage]:
    rows = session.execute(
        select(
            CrawlPage.url,
            CrawlPage.kind,
            CrawlPage.etag,
            CrawlPage.last_modified,
            CrawlPage.links,
            CrawlPage.next_url,
            CrawlPage.book_id,
        )
    )
    return {
        row.url: StoredPage(row.kind, row.etag, row.last_modified, list(row.links or []), row.next_url, row.book_id)
        for row in rows
    }


def load_categories(session: Session) -> dict[str, StoredCategory]:
    rows = session.execute(select(Category.name, Category.slug, Category.url))
    return {name: StoredCategory(slug, url) for name, slug, url in rows}


def create_run(session: Session, base_url: str, job_id: str | None, started_at: datetime) -> int:
    run = ScrapeRun(base_url=base_url, status="running", started_at=started_at, errors=[], job_id=job_id)
    session.add(run)
    session.flush()
    return run.id


def update_run(session: Session, run_id: int, values: Mapping[str, Any]) -> None:
    session.execute(update(ScrapeRun).where(ScrapeRun.id == run_id).values(**values))


def insert_books(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(_table(Book)), list(rows))


def update_books(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk UPDATE by primary key; each row carries ``id`` and the changed columns."""
    if rows:
        session.execute(update(Book), list(rows))


def insert_changes(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(_table(BookChange)), list(rows))


def insert_categories(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(_table(Category)), list(rows))


def update_categories(session: Session, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
    for name, values in rows:
        session.execute(update(Category).where(Category.name == name).values(**values))


def page_row(url: str, page: StoredPage, fetched_at: datetime) -> dict[str, Any]:
    return {
        "url": url,
        "kind": page.kind,
        "etag": page.etag,
        "last_modified": page.last_modified,
        "links": page.links,
        "next_url": page.next_url,
        "book_id": page.book_id,
        "fetched_at": fetched_at,
    }


def insert_pages(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(_table(CrawlPage)), list(rows))


def update_pages(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk UPDATE by primary key (``url``)."""
    if rows:
        session.execute(update(CrawlPage), list(rows))
