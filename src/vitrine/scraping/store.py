"""Turn parsed pages into database rows, in batches: upsert books by id, keep price/availability history,
upsert categories, remember each page's validators and links for the next (conditional) run.

A ``CrawlStore`` loads what is stored once, then compares in memory: an unchanged book is never written (its
``updated_at`` stays, so the catalogue's response cache stays valid). Each ``apply`` is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vitrine.db import SessionFactory, session_scope
from vitrine.kit.clock import utcnow
from vitrine.scraping import repository
from vitrine.scraping.parser import CategoryLink, ParsedBook, category_slug_from_url
from vitrine.scraping.repository import StoredBook, StoredCategory, StoredPage

_BOOK_FIELDS = ("title", "price", "rating", "availability", "category", "upc", "description", "image_url", "url")


@dataclass(frozen=True, slots=True)
class PageMeta:
    url: str
    etag: str | None
    last_modified: str | None


@dataclass(slots=True)
class Batch:
    books: list[tuple[ParsedBook, PageMeta]] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # book ids whose detail page answered 304
    listings: list[tuple[PageMeta, list[str], str | None]] = field(default_factory=list)
    categories: list[CategoryLink] = field(default_factory=list)
    run_values: dict[str, Any] = field(default_factory=dict)  # counters to save on the run row

    def __len__(self) -> int:
        return len(self.books) + len(self.unchanged) + len(self.listings)


@dataclass(slots=True)
class BookCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: int = 0


def stored_from_parsed(book: ParsedBook) -> StoredBook:
    return StoredBook(*(getattr(book, name) for name in _BOOK_FIELDS))


class CrawlStore:
    """Owned by one thread at a time (the crawl's writer thread); not thread-safe by itself."""

    def __init__(self, factory: SessionFactory, run_id: int) -> None:
        self.factory = factory
        self.run_id = run_id
        with factory() as session:
            self.books: dict[int, StoredBook] = repository.load_books(session)
            self.pages: dict[str, StoredPage] = repository.load_pages(session)
            self.categories: dict[str, StoredCategory] = repository.load_categories(session)
        self.counts = BookCounts()
        self._seen: set[int] = set()  # a book reached twice in one run counts once

    def apply(self, batch: Batch) -> BookCounts:
        """Write one batch in one transaction; returns the running totals."""
        now = utcnow()
        new_books: list[dict[str, Any]] = []
        changed_books: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        new_pages: dict[str, StoredPage] = {}
        changed_pages: dict[str, StoredPage] = {}
        categories = list(batch.categories)
        pending_books: dict[int, StoredBook] = {}

        for book_id in batch.unchanged:
            if book_id not in self._seen:
                self._seen.add(book_id)
                self.counts.unchanged += 1
        for book, meta in batch.books:
            page = StoredPage("detail", meta.etag, meta.last_modified, [], None, book.id)
            self._remember_page(meta.url, page, new_pages, changed_pages)
            categories.append(CategoryLink(name=book.category, slug="", url=book.category_url))
            if book.id in self._seen:
                continue
            self._seen.add(book.id)
            stored = self.books.get(book.id)
            fresh = stored_from_parsed(book)
            if stored is None:
                new_books.append({"id": book.id, **_values(fresh), "last_run_id": self.run_id})
                new_books[-1].update(created_at=now, updated_at=now)
                self.counts.added += 1
            elif stored != fresh:
                diff = {
                    name: getattr(fresh, name) for name in _BOOK_FIELDS if getattr(stored, name) != getattr(fresh, name)
                }
                changed_books.append({"id": book.id, **diff, "last_run_id": self.run_id, "updated_at": now})
                self.counts.updated += 1
                if stored.price != fresh.price or stored.availability != fresh.availability:
                    history.append(
                        {
                            "book_id": book.id,
                            "run_id": self.run_id,
                            "changed_at": now,
                            "old_price": stored.price,
                            "new_price": fresh.price,
                            "old_availability": stored.availability,
                            "new_availability": fresh.availability,
                        }
                    )
            else:
                self.counts.unchanged += 1
            pending_books[book.id] = fresh
        for meta, links, next_url in batch.listings:
            page = StoredPage("listing", meta.etag, meta.last_modified, links, next_url, None)
            self._remember_page(meta.url, page, new_pages, changed_pages)
        new_categories, changed_categories, category_view = self._category_rows(categories, now)

        with session_scope(self.factory) as session:
            repository.insert_categories(session, new_categories)
            repository.update_categories(session, changed_categories)
            repository.insert_books(session, new_books)
            repository.update_books(session, changed_books)
            repository.insert_changes(session, history)
            repository.insert_pages(session, [repository.page_row(url, p, now) for url, p in new_pages.items()])
            repository.update_pages(session, [repository.page_row(url, p, now) for url, p in changed_pages.items()])
            counts = self.counts
            run_values = {
                **batch.run_values,
                "books_added": counts.added,
                "books_updated": counts.updated,
                "books_unchanged": counts.unchanged,
            }
            repository.update_run(session, self.run_id, run_values)
        # Only after the commit: the in-memory view follows what is stored.
        self.books.update(pending_books)
        self.pages.update(new_pages)
        self.pages.update(changed_pages)
        self.categories.update(category_view)
        self.counts.changes += len(history)
        return self.counts

    def _remember_page(
        self, url: str, page: StoredPage, new_pages: dict[str, StoredPage], changed_pages: dict[str, StoredPage]
    ) -> None:
        stored = self.pages.get(url)
        if stored is None:
            new_pages[url] = page
        elif stored != page:
            changed_pages[url] = page

    def _category_rows(
        self, links: list[CategoryLink], now: Any
    ) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]], dict[str, StoredCategory]]:
        new: dict[str, dict[str, Any]] = {}
        changed: list[tuple[str, dict[str, Any]]] = []
        view: dict[str, StoredCategory] = {}
        for link in links:
            name = link.name.strip()
            if not name or name in new:
                continue
            slug = link.slug or category_slug_from_url(link.url)
            stored = view.get(name) or self.categories.get(name)
            if stored is None:
                new[name] = {"name": name, "slug": slug, "url": link.url, "created_at": now, "updated_at": now}
                view[name] = StoredCategory(slug, link.url)
            elif (stored.slug, stored.url) != (slug, link.url) and link.url and name not in view:
                changed.append((name, {"slug": slug, "url": link.url, "updated_at": now}))
                view[name] = StoredCategory(slug, link.url)
        return list(new.values()), changed, view


def _values(book: StoredBook) -> dict[str, Any]:
    return {name: getattr(book, name) for name in _BOOK_FIELDS}
