"""End-to-end crawls over real HTTP against the books sandbox, into the test database."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.models import Book, BookChange, Category, CrawlPage, ScrapeRun
from vitrine.sandbox.server import free_port
from vitrine.scraping.schemas import CrawlProgress, RunStatus
from vitrine.scraping.service import run_crawl

from .conftest import Sandbox

Counts = Callable[[], dict[str, Any]]


def stored_books(factory: SessionFactory) -> dict[int, Book]:
    with factory() as session:
        return {book.id: book for book in session.scalars(select(Book))}


def the_run(factory: SessionFactory, run_id: int) -> ScrapeRun:
    with factory() as session:
        run = session.get(ScrapeRun, run_id)
        assert run is not None
        return run


def test_full_crawl_stores_every_book_with_every_field(
    session_factory: SessionFactory, crawl_settings: Settings, sandbox: Sandbox
) -> None:
    updates: list[CrawlProgress] = []
    result = run_crawl(session_factory, crawl_settings, base_url=sandbox.url, progress=updates.append, job_id="job-1")

    catalogue = sandbox.site.catalogue
    assert result.status is RunStatus.succeeded
    assert result.error is None
    c = result.counters
    listing_pages = 3  # 45 books, 20 per page
    assert (c.pages_fetched, c.pages_not_modified, c.pages_failed) == (listing_pages + 45, 0, 0)
    assert (c.books_added, c.books_updated, c.books_unchanged, c.errors) == (45, 0, 0, 0)

    books = stored_books(session_factory)
    assert set(books) == {b.id for b in catalogue.books}
    for expected in catalogue.books:
        got = books[expected.id]
        assert got.title == expected.title
        assert got.price == expected.price
        assert got.rating == expected.rating
        assert got.availability == expected.availability
        assert got.category == expected.category.name
        assert got.upc == expected.upc
        assert got.description == (expected.description or "")
        assert got.image_url == sandbox.url + expected.image
        assert got.url == sandbox.url + expected.path
        assert got.last_run_id == result.run_id
    assert sum(1 for b in books.values() if b.description == "") == 2

    with session_factory() as session:
        categories = {c.name: c for c in session.scalars(select(Category))}
        assert session.scalar(select(BookChange.id)) is None  # a first sighting is not a change
    assert set(categories) == {cat.name for cat in catalogue.categories}
    some = catalogue.categories[0]
    assert categories[some.name].slug == some.slug
    assert categories[some.name].url == f"{sandbox.url}catalogue/category/books/{some.slug}/index.html"

    run = the_run(session_factory, result.run_id)
    assert (run.status, run.job_id, run.books_added, run.pages_fetched) == ("succeeded", "job-1", 45, 48)
    assert run.finished_at is not None
    assert run.errors == []

    final = updates[-1]
    assert (final.pages_done, final.pages_total, final.books, final.errors) == (48, 48, 45, 0)
    assert all(u.pages_done <= u.pages_total for u in updates)


def test_rerun_without_changes_touches_nothing_and_uses_304s(
    session_factory: SessionFactory, crawl_settings: Settings, sandbox: Sandbox, table_counts: Counts
) -> None:
    run_crawl(session_factory, crawl_settings, base_url=sandbox.url)
    before = table_counts()
    served = sandbox.site.statuses.copy()
    updates: list[CrawlProgress] = []

    again = run_crawl(session_factory, crawl_settings, base_url=sandbox.url, progress=updates.append)

    assert again.status is RunStatus.succeeded
    c = again.counters
    assert (c.pages_fetched, c.pages_not_modified, c.books_added, c.books_updated, c.books_unchanged) == (
        0,
        48,
        0,
        0,
        45,
    )
    after = table_counts()
    assert after == {**before, "runs": before["runs"] + 1}  # same rows, same updated_at, one more run record
    assert sandbox.site.statuses[304] - served[304] == 48
    assert sandbox.site.statuses[200] == served[200]
    assert all(u.pages_total == 48 for u in updates)  # known from the stored pages, though no 200 announced it
    assert (updates[-1].pages_done, updates[-1].books) == (48, 45)
    conditional = [headers for _, path, headers in sandbox.site.requests if path.endswith("index.html")][-1]
    assert "if-none-match" in conditional
    assert "if-modified-since" in conditional


def test_rerun_against_a_server_without_validators_still_changes_nothing(
    session_factory: SessionFactory,
    crawl_settings: Settings,
    make_sandbox: Callable[..., Sandbox],
    table_counts: Counts,
) -> None:
    bare = make_sandbox(books=25, categories=3, etags=False, last_modified=False)
    run_crawl(session_factory, crawl_settings, base_url=bare.url)
    before = table_counts()
    again = run_crawl(session_factory, crawl_settings, base_url=bare.url)
    assert (again.counters.pages_fetched, again.counters.books_unchanged, again.counters.books_updated) == (27, 25, 0)
    assert table_counts() == {**before, "runs": before["runs"] + 1}


def test_price_and_stock_changes_are_recorded_once(
    session_factory: SessionFactory, crawl_settings: Settings, sandbox: Sandbox
) -> None:
    first = run_crawl(session_factory, crawl_settings, base_url=sandbox.url)
    book = sandbox.site.catalogue.books[5]
    old_price, old_stock = book.price, book.availability
    sandbox.site.set_price(book.id, old_price + Decimal("1.50"))
    other = sandbox.site.catalogue.books[30]
    sandbox.site.set_availability(other.id, other.availability + 4)

    second = run_crawl(session_factory, crawl_settings, base_url=sandbox.url)
    third = run_crawl(session_factory, crawl_settings, base_url=sandbox.url)

    assert (second.counters.books_updated, second.counters.books_unchanged, second.counters.changes_recorded) == (
        2,
        43,
        2,
    )
    assert (third.counters.books_updated, third.counters.changes_recorded) == (0, 0)
    with session_factory() as session:
        changes = {c.book_id: c for c in session.scalars(select(BookChange))}
        assert set(changes) == {book.id, other.id}
        price_change = changes[book.id]
        assert (price_change.old_price, price_change.new_price) == (old_price, old_price + Decimal("1.50"))
        assert (price_change.old_availability, price_change.new_availability) == (old_stock, old_stock)
        assert price_change.run_id == second.run_id
        assert (changes[other.id].old_availability, changes[other.id].new_availability) == (
            other.availability - 4,
            other.availability,
        )
        stored = session.get(Book, book.id)
        assert stored is not None
        assert stored.price == old_price + Decimal("1.50")
        assert stored.last_run_id == second.run_id
        untouched = session.get(Book, sandbox.site.catalogue.books[0].id)
        assert untouched is not None
        assert untouched.last_run_id == first.run_id


def test_a_broken_page_is_an_error_of_the_run_not_its_end(
    session_factory: SessionFactory, crawl_settings: Settings, sandbox: Sandbox
) -> None:
    broken = sandbox.site.catalogue.books[7]
    sandbox.site.fail(broken.path)

    result = run_crawl(session_factory, crawl_settings, base_url=sandbox.url)

    assert result.status is RunStatus.succeeded
    assert (result.counters.pages_failed, result.counters.errors, result.counters.books_added) == (1, 1, 44)
    assert sandbox.site.hits[broken.path] == crawl_settings.scraping.max_retries + 1  # retried, then given up
    run = the_run(session_factory, result.run_id)
    assert (run.pages_failed, run.errors_count) == (1, 1)
    assert run.errors[0]["url"] == sandbox.url + broken.path
    assert run.errors[0]["status"] == 500
    assert "HTTP 500" in run.errors[0]["error"]
    assert broken.id not in stored_books(session_factory)


def test_unparseable_page_is_recorded(
    session_factory: SessionFactory, crawl_settings: Settings, sandbox: Sandbox
) -> None:
    garbled = sandbox.site.catalogue.books[2]
    sandbox.site.garble(garbled.path)
    result = run_crawl(session_factory, crawl_settings, base_url=sandbox.url)
    assert result.status is RunStatus.succeeded
    assert (result.counters.pages_failed, result.counters.books_added) == (1, 44)
    error = the_run(session_factory, result.run_id).errors[0]
    assert error["url"] == sandbox.url + garbled.path
    assert "parse error" in error["error"]


def test_429_with_retry_after_is_retried_after_the_wait(
    session_factory: SessionFactory, crawl_settings: Settings, sandbox: Sandbox
) -> None:
    busy = sandbox.site.catalogue.books[1]
    sandbox.site.throttle(busy.path, times=1, retry_after=1)
    settings = crawl_settings.model_copy(
        update={"scraping": crawl_settings.scraping.model_copy(update={"backoff_max_seconds": 5.0})}
    )

    result = run_crawl(session_factory, settings, base_url=sandbox.url)

    assert result.status is RunStatus.succeeded
    assert (result.counters.errors, result.counters.books_added, result.counters.retries) == (0, 45, 1)
    times = [at for at, path, _ in sandbox.site.requests if path == busy.path]
    assert len(times) == 2
    assert times[1] - times[0] >= 0.95  # Retry-After: 1 was honoured


def test_retry_after_is_capped(session_factory: SessionFactory, crawl_settings: Settings, sandbox: Sandbox) -> None:
    busy = sandbox.site.catalogue.books[1]
    sandbox.site.throttle(busy.path, times=2, retry_after=3600)
    result = run_crawl(session_factory, crawl_settings, base_url=sandbox.url)  # cap: backoff_max_seconds=0.05
    assert result.status is RunStatus.succeeded
    assert result.counters.books_added == 45
    assert result.duration_seconds < 5


def test_dropped_connection_is_retried(
    session_factory: SessionFactory, crawl_settings: Settings, sandbox: Sandbox
) -> None:
    flaky = sandbox.site.catalogue.books[4]
    sandbox.site.drop_connection(flaky.path, times=2)
    result = run_crawl(session_factory, crawl_settings, base_url=sandbox.url)
    assert (result.counters.errors, result.counters.books_added, result.counters.retries) == (0, 45, 2)


def test_robots_txt_disallow_is_respected(
    session_factory: SessionFactory, crawl_settings: Settings, make_sandbox: Callable[..., Sandbox]
) -> None:
    probe = make_sandbox(books=25, categories=3)
    hidden = probe.site.catalogue.books[3]
    robots = f"User-agent: *\nDisallow: /{hidden.path.rsplit('/', 1)[0]}/\n\nUser-agent: otherbot\nDisallow: /\n"
    site = make_sandbox(books=25, categories=3, robots_txt=robots)

    result = run_crawl(session_factory, crawl_settings, base_url=site.url)

    assert result.status is RunStatus.succeeded
    assert (result.counters.pages_skipped, result.counters.books_added) == (1, 24)
    assert site.site.hits[hidden.path] == 0
    assert site.site.hits["robots.txt"] == 1
    assert hidden.id not in stored_books(session_factory)


def test_robots_txt_can_be_ignored_by_setting(
    session_factory: SessionFactory, crawl_settings: Settings, make_sandbox: Callable[..., Sandbox]
) -> None:
    site = make_sandbox(books=5, categories=2, robots_txt="User-agent: *\nDisallow: /\n")
    denied = run_crawl(session_factory, crawl_settings, base_url=site.url)
    assert denied.status is RunStatus.failed
    assert "robots.txt" in (denied.error or "")
    ignoring = crawl_settings.model_copy(
        update={"scraping": crawl_settings.scraping.model_copy(update={"respect_robots_txt": False})}
    )
    assert run_crawl(session_factory, ignoring, base_url=site.url).counters.books_added == 5


def test_unreachable_site_fails_the_run(session_factory: SessionFactory, crawl_settings: Settings) -> None:
    base = f"http://127.0.0.1:{free_port()}/"
    result = run_crawl(session_factory, crawl_settings, base_url=base)
    assert result.status is RunStatus.failed
    assert result.error is not None
    run = the_run(session_factory, result.run_id)
    assert run.status == "failed"
    assert run.finished_at is not None
    assert run.errors_count >= 1
    assert run.errors[0]["kind"] == "run"


def test_start_page_error_fails_the_run(
    session_factory: SessionFactory, crawl_settings: Settings, sandbox: Sandbox
) -> None:
    sandbox.site.fail("index.html")
    result = run_crawl(session_factory, crawl_settings, base_url=sandbox.url)
    assert result.status is RunStatus.failed
    assert "HTTP 500" in (result.error or "")
    assert the_run(session_factory, result.run_id).pages_failed == 1


def test_cancel_stops_cleanly_and_a_rerun_resumes(
    session_factory: SessionFactory, crawl_settings: Settings, make_sandbox: Callable[..., Sandbox]
) -> None:
    site = make_sandbox(books=80, categories=5)
    checks = itertools.count()

    cancelled = run_crawl(session_factory, crawl_settings, base_url=site.url, should_cancel=lambda: next(checks) >= 30)

    assert cancelled.status is RunStatus.cancelled
    kept = stored_books(session_factory)
    assert 0 < len(kept) < 80
    assert cancelled.counters.books_added == len(kept)
    assert the_run(session_factory, cancelled.run_id).status == "cancelled"

    resumed = run_crawl(session_factory, crawl_settings, base_url=site.url)

    assert resumed.status is RunStatus.succeeded
    c = resumed.counters
    assert c.books_added == 80 - len(kept)
    assert c.books_unchanged == len(kept)
    assert c.books_updated == 0
    assert c.pages_not_modified >= len(kept)  # the stored books cost a 304 each, not a download
    assert len(stored_books(session_factory)) == 80
    with session_factory() as session:
        assert session.scalar(select(BookChange.id)) is None


def test_rate_is_bounded(
    session_factory: SessionFactory, crawl_settings: Settings, make_sandbox: Callable[..., Sandbox]
) -> None:
    site = make_sandbox(books=12, categories=2)
    slow = crawl_settings.model_copy(
        update={"scraping": crawl_settings.scraping.model_copy(update={"requests_per_second": 40.0})}
    )
    result = run_crawl(session_factory, slow, base_url=site.url, concurrency=2)
    assert result.counters.books_added == 12
    times = sorted(at for at, _, _ in site.site.requests)  # robots.txt + 1 listing + 12 books
    assert len(times) == 14
    assert times[-1] - times[0] >= 13 / 40 * 0.9  # 40 requests/s: one every 25 ms (10% slack for arrival jitter)


def test_user_agent_names_vitrine(session_factory: SessionFactory, crawl_settings: Settings, sandbox: Sandbox) -> None:
    run_crawl(session_factory, crawl_settings, base_url=sandbox.url)
    agents = {headers.get("user-agent", "") for _, _, headers in sandbox.site.requests}
    assert agents == {crawl_settings.scraping.user_agent}
    assert "Vitrine" in crawl_settings.scraping.user_agent


def test_crawl_pages_remember_validators_and_links(
    session_factory: SessionFactory, crawl_settings: Settings, sandbox: Sandbox
) -> None:
    run_crawl(session_factory, crawl_settings, base_url=sandbox.url)
    with session_factory() as session:
        home = session.get(CrawlPage, sandbox.url)
        assert home is not None
        assert home.kind == "listing"
        assert home.etag and home.last_modified
        assert home.next_url == f"{sandbox.url}catalogue/page-2.html"
        assert len(home.links) == 20
        detail = session.get(CrawlPage, home.links[0])
        assert detail is not None
        assert (detail.kind, detail.book_id) == ("detail", sandbox.site.catalogue.books[0].id)


def test_an_unexpected_exception_on_a_page_is_recorded_not_fatal(
    session_factory: SessionFactory, crawl_settings: Settings, sandbox: Sandbox, monkeypatch: Any
) -> None:
    from vitrine.scraping import crawler

    victim = sandbox.site.catalogue.books[9]
    real = crawler.parse_detail

    def buggy(html: str, url: str) -> Any:
        if url.endswith(victim.path):
            raise RuntimeError("boom")
        return real(html, url)

    monkeypatch.setattr(crawler, "parse_detail", buggy)
    result = run_crawl(session_factory, crawl_settings, base_url=sandbox.url)
    assert result.status is RunStatus.succeeded
    assert (result.counters.errors, result.counters.books_added) == (1, 44)
    assert "internal error: RuntimeError: boom" in the_run(session_factory, result.run_id).errors[0]["error"]


def test_concurrency_is_bounded(
    session_factory: SessionFactory, crawl_settings: Settings, make_sandbox: Callable[..., Sandbox]
) -> None:
    site = make_sandbox(books=30, categories=2)
    site.site.set_latency(0.02)
    result = run_crawl(session_factory, crawl_settings, base_url=site.url, concurrency=3)
    assert result.counters.books_added == 30
    assert 2 <= site.site.max_in_flight <= 3


def test_crawl_delay_from_robots_txt_slows_the_crawl(
    session_factory: SessionFactory, crawl_settings: Settings, make_sandbox: Callable[..., Sandbox]
) -> None:
    site = make_sandbox(books=6, categories=2, robots_txt="User-agent: *\nCrawl-delay: 0.03\n")
    result = run_crawl(session_factory, crawl_settings, base_url=site.url)
    assert result.counters.books_added == 6
    times = sorted(at for at, path, _ in site.site.requests if path != "robots.txt")
    assert times[-1] - times[0] >= 6 * 0.03 * 0.9  # 7 pages, one every 30 ms


def test_timeouts_are_retried_then_recorded(
    session_factory: SessionFactory, crawl_settings: Settings, make_sandbox: Callable[..., Sandbox]
) -> None:
    site = make_sandbox(books=3, categories=1)
    site.site.set_latency(0.5)
    impatient = crawl_settings.model_copy(
        update={
            "scraping": crawl_settings.scraping.model_copy(
                update={"timeout_seconds": 0.1, "max_retries": 1, "respect_robots_txt": False}
            )
        }
    )
    result = run_crawl(session_factory, impatient, base_url=site.url)
    assert result.status is RunStatus.failed
    assert "TimeoutError" in (result.error or "")
    assert site.site.hits["index.html"] == 2  # the first try and one retry
