"""Batch parsed pages and hand them to the ``CrawlStore`` on one writer thread, off the event loop.

Batches are flushed when they reach ``batch_size`` items or ``max_delay`` seconds after the first item arrived,
one at a time and in order, so a cancelled or killed crawl keeps all but the last partial batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vitrine.scraping.parser import CategoryLink, ParsedBook
from vitrine.scraping.store import Batch, BookCounts, CrawlStore, PageMeta


class BatchWriter:
    def __init__(
        self,
        store: CrawlStore,
        run_values: Callable[[], dict[str, Any]],
        *,
        batch_size: int = 250,
        max_delay: float = 1.0,
    ) -> None:
        self.store = store
        self.run_values = run_values
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.counts = BookCounts()
        self.error: BaseException | None = None
        self._batch = Batch()
        self._first_at = 0.0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crawl-writer")
        self._tail: asyncio.Future[None] | None = None

    def add_book(self, book: ParsedBook, meta: PageMeta) -> None:
        self._touch()
        self._batch.books.append((book, meta))
        self._maybe_flush()

    def add_unchanged(self, book_id: int) -> None:
        self._touch()
        self._batch.unchanged.append(book_id)
        self._maybe_flush()

    def add_listing(self, meta: PageMeta, book_urls: list[str], next_url: str | None) -> None:
        self._touch()
        self._batch.listings.append((meta, book_urls, next_url))
        self._maybe_flush()

    def add_categories(self, categories: list[CategoryLink]) -> None:
        self._touch()
        self._batch.categories.extend(categories)

    def _touch(self) -> None:
        if not len(self._batch) and not self._batch.categories:
            self._first_at = time.monotonic()

    def _maybe_flush(self) -> None:
        if len(self._batch) >= self.batch_size or time.monotonic() - self._first_at >= self.max_delay:
            self.flush()

    def flush(self) -> None:
        """Queue the current batch behind the previous one (non-blocking)."""
        batch, self._batch = self._batch, Batch()
        batch.run_values = self.run_values()
        previous = self._tail
        self._tail = asyncio.ensure_future(self._write(previous, batch))

    async def _write(self, previous: asyncio.Future[None] | None, batch: Batch) -> None:
        if previous is not None:
            await previous
        if self.error is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            counts = await loop.run_in_executor(self._executor, self.store.apply, batch)
        except Exception as exc:  # surfaced by close(); the crawl stops on it
            self.error = exc
            return
        self.counts = BookCounts(counts.added, counts.updated, counts.unchanged, counts.changes)

    async def close(self) -> BookCounts:
        """Flush what is left, wait for every write, stop the thread. Raises the first write error."""
        try:
            self.flush()
            if self._tail is not None:
                await self._tail
        finally:
            self._executor.shutdown(wait=True)
        if self.error is not None:
            raise self.error
        return self.counts
