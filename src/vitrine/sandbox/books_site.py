"""A local books.toscrape.com: an ASGI app serving pages in the real site's markup from our own fixture data.

For tests, benchmarks and the offline demo::

    site = BooksSite(books=60, categories=6)
    with serve_in_thread(site) as server:      # vitrine.sandbox.server
        run_crawl(factory, settings, base_url=server.url)

Like the real site (and ``python -m http.server``) it answers ``Content-Type: text/html`` with no charset. It
sends ``ETag`` and ``Last-Modified`` and answers conditional requests with 304 (each can be switched off), and
serves an optional robots.txt (404 when there is none). Injectable faults: latency, a path that always answers
500, a path that answers 429 with Retry-After a number of times, a path whose connection drops mid-body, a path
that answers 200 with a page of the wrong shape. ``set_price``/``set_availability`` change a book the way a shop
would. ``render_site`` writes the whole site to a directory of static files for any static server.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

from vitrine.sandbox.books_data import Catalogue, generate_catalogue
from vitrine.sandbox.books_data_pages import PAGE_SIZE, PageSet

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

NOT_FOUND = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n"
GARBLED = b"<!DOCTYPE html>\n<html><body><p>Down for maintenance. Back soon!</p></body></html>\n"
SERVER_ERROR = (
    b"<!DOCTYPE html>\n<html><head><title>Server Error (500)</title></head>"
    b"<body><h1>Server Error (500)</h1></body></html>\n"
)


@dataclass(slots=True)
class Faults:
    latency: float = 0.0  # seconds added to every response
    failing: set[str] = field(default_factory=set)  # paths that always answer 500
    throttled: dict[str, list[int]] = field(default_factory=dict)  # path -> [429s left, Retry-After seconds]
    dropping: dict[str, int] = field(default_factory=dict)  # path -> connection drops left
    garbled: set[str] = field(default_factory=set)  # paths that answer 200 with a page of the wrong shape


@dataclass(frozen=True, slots=True)
class _Page:
    body: bytes
    etag: str
    last_modified: datetime


def _normalize(path: str) -> str:
    path = path.lstrip("/")
    if path == "" or path.endswith("/"):
        path += "index.html"
    return path


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


def _etag_matches(header: str, etag: str) -> bool:
    wanted = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


class BooksSite:
    """The ASGI app. Mutations and fault settings may be changed from another thread while it serves."""

    def __init__(
        self,
        catalogue: Catalogue | None = None,
        *,
        books: int = 1000,
        categories: int = 50,
        seed: int = 2016,
        robots_txt: str | None = None,
        etags: bool = True,
        last_modified: bool = True,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.catalogue = catalogue or generate_catalogue(books, categories, seed=seed)
        self.pages = PageSet(self.catalogue, page_size)
        self.robots_txt = robots_txt
        self.etags = etags
        self.send_last_modified = last_modified
        self.faults = Faults()
        self.hits: Counter[str] = Counter()  # path -> requests
        self.statuses: Counter[int] = Counter()  # status -> responses
        self.requests: deque[tuple[float, str, dict[str, str]]] = deque(maxlen=20_000)  # (monotonic, path, headers)
        self._cache: dict[str, _Page] = {}
        self._version = 0
        self.in_flight = 0  # requests being answered now
        self.max_in_flight = 0  # the most at once (how concurrent a client really was)

    # -- test controls -------------------------------------------------------------------------------------

    def fail(self, path: str) -> None:
        self.faults.failing.add(_normalize(path))

    def throttle(self, path: str, times: int, retry_after: int = 1) -> None:
        self.faults.throttled[_normalize(path)] = [times, retry_after]

    def garble(self, path: str) -> None:
        self.faults.garbled.add(_normalize(path))

    def drop_connection(self, path: str, times: int = 1) -> None:
        self.faults.dropping[_normalize(path)] = times

    def set_latency(self, seconds: float) -> None:
        self.faults.latency = seconds

    def path_of(self, book_id: int) -> str:
        return self.catalogue.book(book_id).path

    def set_price(self, book_id: int, price: Decimal | str) -> None:
        book = self.catalogue.book(book_id)
        book.price = Decimal(price)
        self._touch(book_id)

    def set_availability(self, book_id: int, count: int) -> None:
        book = self.catalogue.book(book_id)
        book.availability = count
        self._touch(book_id)

    def _touch(self, book_id: int) -> None:
        book = self.catalogue.book(book_id)
        now = datetime.now(UTC).replace(microsecond=0)
        book.modified = max(now, book.modified + timedelta(seconds=1))
        self._version += 1
        self._cache.clear()

    # -- pages ---------------------------------------------------------------------------------------------

    def page(self, path: str) -> _Page | None:
        path = _normalize(path)
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        version = self._version
        html = self.pages.render(path)
        modified = self.pages.last_modified(path)
        if html is None or modified is None:
            return None
        body = html.encode("utf-8")
        page = _Page(body, f'"{hashlib.blake2b(body, digest_size=10).hexdigest()}"', modified)
        if version == self._version:  # not rendered from data a concurrent mutation has since changed
            self._cache[path] = page
        return page

    def paths(self) -> list[str]:
        return list(self.pages.paths())

    # -- ASGI ----------------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":  # pragma: no cover - no websockets here
            return
        path = _normalize(scope["path"])
        self.hits[path] += 1
        self.requests.append((time.monotonic(), path, _headers(scope)))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self._handle(scope, send, path)
        finally:
            self.in_flight -= 1

    async def _handle(self, scope: Scope, send: Send, path: str) -> None:
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        if scope["method"] not in {"GET", "HEAD"}:
            await self._send(send, 405, b"", [(b"allow", b"GET, HEAD")])
            return
        head = scope["method"] == "HEAD"
        if path in self.faults.failing:
            await self._send(send, 500, SERVER_ERROR, [(b"content-type", b"text/html")], head)
            return
        throttle = self.faults.throttled.get(path)
        if throttle is not None and throttle[0] > 0:
            throttle[0] -= 1
            headers = [(b"content-type", b"text/html"), (b"retry-after", str(throttle[1]).encode())]
            await self._send(send, 429, b"Too Many Requests\n", headers, head)
            return
        if path in self.faults.garbled:
            await self._send(send, 200, GARBLED, [(b"content-type", b"text/html")], head)
            return
        if path == "robots.txt":
            if self.robots_txt is None:
                await self._send(send, 404, NOT_FOUND, [(b"content-type", b"text/html")], head)
            else:
                await self._send(send, 200, self.robots_txt.encode(), [(b"content-type", b"text/plain")], head)
            return
        page = self.page(path)
        if page is None:
            await self._send(send, 404, NOT_FOUND, [(b"content-type", b"text/html")], head)
            return
        await self._serve_page(scope, send, path, page, head)

    async def _serve_page(self, scope: Scope, send: Send, path: str, page: _Page, head: bool) -> None:
        headers: list[tuple[bytes, bytes]] = [(b"content-type", b"text/html")]  # no charset, like the real site
        if self.etags:
            headers.append((b"etag", page.etag.encode()))
        if self.send_last_modified:
            headers.append((b"last-modified", format_datetime(page.last_modified, usegmt=True).encode()))
        if self._not_modified(scope, page):
            await self._send(send, 304, b"", headers, head=True)
            return
        drops = self.faults.dropping.get(path, 0)
        if drops > 0:
            self.faults.dropping[path] = drops - 1
            self.statuses[0] += 1
            # Promise the whole body, send a third of it and return: the server closes the connection.
            length = str(len(page.body)).encode()
            await send(
                {"type": "http.response.start", "status": 200, "headers": [*headers, (b"content-length", length)]}
            )
            await send({"type": "http.response.body", "body": page.body[: len(page.body) // 3], "more_body": True})
            return
        await self._send(send, 200, page.body, headers, head)

    def _not_modified(self, scope: Scope, page: _Page) -> bool:
        request = _headers(scope)
        if_none_match = request.get("if-none-match")
        if if_none_match is not None:  # RFC 9110: If-None-Match wins; If-Modified-Since is then ignored
            return self.etags and _etag_matches(if_none_match, page.etag)
        since = request.get("if-modified-since")
        if since and self.send_last_modified:
            try:
                when = parsedate_to_datetime(since)
            except (TypeError, ValueError):
                return False
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return page.last_modified <= when
        return False

    async def _send(
        self, send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]], head: bool = False
    ) -> None:
        self.statuses[status] += 1
        if status != 304:
            headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def render_site(directory: str | Path, site: BooksSite | Catalogue) -> int:
    """Write every page (and robots.txt, if the site has one) as static files; returns the number of files."""
    books_site = site if isinstance(site, BooksSite) else BooksSite(site)
    root = Path(directory)
    count = 0
    for path in books_site.paths():
        page = books_site.page(path)
        if page is None:  # pragma: no cover - paths() lists only pages it can render
            continue
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(page.body)
        count += 1
    if books_site.robots_txt is not None:
        (root / "robots.txt").write_text(books_site.robots_txt, encoding="utf-8")
        count += 1
    return count
