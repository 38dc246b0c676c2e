"""Crawl books.toscrape.com (or any site with its markup) into the database: the sync entry point.

``run_crawl`` records a ``ScrapeRun``, runs the async crawl on its own event loop (on a helper thread when the
caller already runs one), writes books in batches on a writer thread, and finishes the run record.

Status rule: ``failed`` when nothing could be crawled — the start page could not be fetched (after retries) or
is not a catalogue listing, or robots.txt forbids it (an unreachable robots.txt, 5xx or network error, means
"disallow all" per RFC 9309). One broken page is never fatal: it is listed in ``errors`` and counted in
``pages_failed``, and the run still ``succeeded``. ``cancelled`` when ``should_cancel`` said so.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from vitrine.config import Settings
from vitrine.db import SessionFactory, session_scope
from vitrine.kit.clock import utcnow
from vitrine.scraping import repository
from vitrine.scraping.client import Fetcher, FetchError
from vitrine.scraping.crawler import Crawler
from vitrine.scraping.politeness import RobotsRules
from vitrine.scraping.schemas import CrawlCounters, CrawlProgress, CrawlResult, RunStatus
from vitrine.scraping.store import CrawlStore
from vitrine.scraping.writer import BatchWriter

T = TypeVar("T")
logger = logging.getLogger(__name__)


def normalize_base_url(url: str) -> str:
    """``http://host`` -> ``http://host/``; a directory URL keeps its trailing slash; fragments go."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


async def fetch_robots(fetcher: Fetcher, base_url: str, user_agent: str) -> tuple[RobotsRules, str | None]:
    """robots.txt of the base URL's host, and why the crawl must not start (or None).

    A 4xx (404: no robots.txt) means no rules. A 5xx or an unreachable host means "disallow all" (RFC 9309): the
    run fails with that reason rather than guessing.
    """
    parts = urlsplit(base_url)
    robots_url = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
    try:
        result = await fetcher.get(robots_url)
    except FetchError as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            return RobotsRules.allow_everything(), None
        return RobotsRules.deny_everything(), f"cannot read {robots_url}: {exc.reason}"
    return RobotsRules.parse(result.body.decode("utf-8", errors="replace"), user_agent), None


def _run_coroutine(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _new_loop_run(factory)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = _new_loop_run(factory)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="crawl-loop")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _new_loop_run(factory: Callable[[], Awaitable[T]]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard] except on Windows
        return asyncio.run(_as_coroutine(factory))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_as_coroutine(factory))


async def _as_coroutine(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


async def _crawl(
    *,
    settings: Settings,
    base_url: str,
    concurrency: int,
    store: CrawlStore,
    progress: Callable[[CrawlProgress], None] | None,
    should_cancel: Callable[[], bool] | None,
) -> Crawler:
    scraping = settings.scraping
    async with Fetcher(scraping, concurrency) as fetcher:
        robots, problem = RobotsRules.allow_everything(), None
        if scraping.respect_robots_txt:
            robots, problem = await fetch_robots(fetcher, base_url, scraping.user_agent)
            if robots.crawl_delay:
                fetcher.limiter(base_url).slow_down(robots.crawl_delay)
        crawler: Crawler
        writer = BatchWriter(store, lambda: crawler.run_values())
        crawler = Crawler(
            fetcher=fetcher,
            writer=writer,
            robots=robots,
            stored_pages=dict(store.pages),
            stored_books=set(store.books),
            concurrency=concurrency,
            should_cancel=should_cancel,
            progress=progress,
        )
        try:
            if problem is None:
                await crawler.run(base_url)
            else:
                crawler.start_error = problem
        finally:
            await writer.close()
        return crawler


def run_crawl(
    factory: SessionFactory,
    settings: Settings,
    *,
    base_url: str | None = None,
    concurrency: int | None = None,
    progress: Callable[[CrawlProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    job_id: str | None = None,
) -> CrawlResult:
    """Crawl the site into the database and record the run. ``should_cancel`` is called between pages (keep it
    cheap); ``progress`` at most every 0.1 s and once at the end. Both are called on the crawl's event loop thread.
    """
    base = normalize_base_url(base_url or settings.books_base_url)
    workers = concurrency if concurrency and concurrency > 0 else settings.scraping.concurrency
    started = time.perf_counter()
    with session_scope(factory) as session:
        run_id = repository.create_run(session, base, job_id, utcnow())
    store = CrawlStore(factory, run_id)
    try:
        crawler = _run_coroutine(
            lambda: _crawl(
                settings=settings,
                base_url=base,
                concurrency=workers,
                store=store,
                progress=progress,
                should_cancel=should_cancel,
            )
        )
    except BaseException as exc:  # a bug or a database failure: record it, then let it propagate
        status = RunStatus.cancelled if isinstance(exc, KeyboardInterrupt) else RunStatus.failed
        _finish(factory, run_id, status, None, [_run_error(base, f"{type(exc).__name__}: {exc}")])
        raise
    counters = crawler.counters
    counters.books_added = store.counts.added
    counters.books_updated = store.counts.updated
    counters.books_unchanged = store.counts.unchanged
    counters.changes_recorded = store.counts.changes
    if crawler.start_error is not None:
        status, error = RunStatus.failed, crawler.start_error
    elif crawler.cancelled:
        status, error = RunStatus.cancelled, None
    else:
        status, error = RunStatus.succeeded, None
    errors = crawler.errors
    if error and not any(item.get("url") == base for item in errors):
        errors = [_run_error(base, error), *errors]
        counters.errors += 1
    _finish(factory, run_id, status, counters, errors)
    logger.info(
        "crawl run %d %s: %d pages (%d fetched, %d not modified, %d failed), books %d added / %d updated / %d "
        "unchanged, %d errors, %.2fs",
        run_id,
        status.value,
        counters.pages_done,
        counters.pages_fetched,
        counters.pages_not_modified,
        counters.pages_failed,
        counters.books_added,
        counters.books_updated,
        counters.books_unchanged,
        counters.errors,
        time.perf_counter() - started,
    )
    return CrawlResult(
        run_id=run_id,
        status=status,
        counters=counters,
        error=error,
        error_samples=errors[:10],
        duration_seconds=round(time.perf_counter() - started, 3),
    )


def _run_error(base: str, message: str) -> dict[str, Any]:
    return {"url": base, "kind": "run", "error": message, "status": None, "at": utcnow().isoformat()}


def _finish(
    factory: SessionFactory,
    run_id: int,
    status: RunStatus,
    counters: CrawlCounters | None,
    errors: list[dict[str, Any]],
) -> None:
    """Close the run record. Without ``counters`` (an unexpected exception) the per-batch counters stay."""
    values: dict[str, Any] = {"status": status.value, "finished_at": utcnow(), "errors": errors}
    if counters is None:
        values["errors_count"] = len(errors)
    else:
        values.update(
            errors_count=counters.errors,
            pages_fetched=counters.pages_fetched,
            pages_not_modified=counters.pages_not_modified,
            pages_failed=counters.pages_failed,
            pages_skipped=counters.pages_skipped,
            books_added=counters.books_added,
            books_updated=counters.books_updated,
            books_unchanged=counters.books_unchanged,
        )
    with session_scope(factory) as session:
        repository.update_run(session, run_id, values)
