"""The books sandbox: real-markup pages from fixture data, validators and 304s, faults, static rendering."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from vitrine.sandbox.books_data import generate_catalogue
from vitrine.sandbox.books_site import BooksSite, render_site
from vitrine.scraping.parser import decode_html, parse_detail, parse_listing

from .conftest import Sandbox


def test_fixture_data_is_deterministic_and_has_the_quirks() -> None:
    first, second = generate_catalogue(200, 12, seed=5), generate_catalogue(200, 12, seed=5)
    assert [(b.id, b.title, b.price, b.upc) for b in first.books] == [
        (b.id, b.title, b.price, b.upc) for b in second.books
    ]
    assert [b.id for b in first.books] == list(range(200, 0, -1))  # catalogue order: id descending
    titles = [b.title for b in first.books]
    assert any("&" in t for t in titles)
    assert any("'" in t for t in titles)
    assert any(not t.isascii() for t in titles)
    assert any(len(t.split()) > 4 for t in titles)
    assert sum(1 for b in first.books if b.description is None) == 2
    sizes = sorted(len(first.in_category(c)) for c in first.categories)
    assert sizes[0] == 1  # singular "result."
    assert sizes[-1] > 20  # paged category
    assert len({b.slug for b in first.books}) == 200


def test_pages_have_no_charset_and_parse_back_to_the_data(sandbox: Sandbox) -> None:
    book = sandbox.site.catalogue.books[3]
    with httpx.Client(base_url=sandbox.url) as client:
        home = client.get("/")
        detail = client.get(f"/{book.path}")
    assert home.headers["content-type"] == "text/html"
    assert detail.headers["content-type"] == "text/html"
    listing = parse_listing(decode_html(home.content), sandbox.url)
    assert listing.book_urls[3] == sandbox.url + book.path
    assert listing.next_url == f"{sandbox.url}catalogue/page-2.html"
    parsed = parse_detail(decode_html(detail.content), sandbox.url + book.path)
    assert (parsed.id, parsed.title, parsed.price, parsed.availability, parsed.upc) == (
        book.id,
        book.title,
        book.price,
        book.availability,
        book.upc,
    )
    assert parsed.category == book.category.name
    assert b"&#39;" in detail.content or "'" not in book.title + (book.description or "")


def test_conditional_requests_and_mutations(sandbox: Sandbox) -> None:
    book = sandbox.site.catalogue.books[0]
    path = f"/{book.path}"
    with httpx.Client(base_url=sandbox.url) as client:
        first = client.get(path)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
        assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
        assert client.get(path, headers={"If-None-Match": '"other"', "If-Modified-Since": modified}).status_code == 200
        home_etag = client.get("/").headers["etag"]

        sandbox.site.set_price(book.id, Decimal("12.34"))
        changed = client.get(path, headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert "\u00a312.34" in changed.content.decode()
        assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 200
        assert client.get("/", headers={"If-None-Match": home_etag}).status_code == 200  # the listing shows it too

        sandbox.site.set_availability(book.id, 3)
        assert "In stock (3 available)" in client.get(path).content.decode()


def test_validators_can_be_switched_off(make_sandbox: Callable[..., Sandbox]) -> None:
    bare = make_sandbox(books=5, categories=2, etags=False, last_modified=False)
    response = httpx.get(bare.url)
    assert "etag" not in response.headers
    assert "last-modified" not in response.headers
    assert httpx.get(bare.url, headers={"If-Modified-Since": "Thu, 01 Jan 2099 00:00:00 GMT"}).status_code == 200


def test_faults(sandbox: Sandbox) -> None:
    site = sandbox.site
    broken, busy, flaky = (site.catalogue.books[i].path for i in range(3))
    site.fail(broken)
    site.throttle(busy, times=2, retry_after=7)
    site.drop_connection(flaky)
    with httpx.Client(base_url=sandbox.url) as client:
        assert [client.get(f"/{broken}").status_code for _ in range(2)] == [500, 500]
        answers = [client.get(f"/{busy}") for _ in range(3)]
        assert [a.status_code for a in answers] == [429, 429, 200]
        assert answers[0].headers["retry-after"] == "7"
        with pytest.raises(httpx.HTTPError):
            client.get(f"/{flaky}")
        assert client.get(f"/{flaky}").status_code == 200
        assert client.get("/robots.txt").status_code == 404
        assert client.get("/nope.html").status_code == 404


def test_robots_txt_is_served_when_configured(make_sandbox: Callable[..., Sandbox]) -> None:
    site = make_sandbox(books=3, categories=1, robots_txt="User-agent: *\nDisallow: /private/\n")
    response = httpx.get(f"{site.url}robots.txt")
    assert response.status_code == 200
    assert "Disallow: /private/" in response.text


def test_render_site_writes_every_page(tmp_path: Path) -> None:
    site = BooksSite(books=30, categories=4, robots_txt="User-agent: *\nAllow: /\n")
    written = render_site(tmp_path, site)
    assert written == len(site.paths()) + 1
    assert (tmp_path / "index.html").read_bytes() == site.page("index.html").body  # type: ignore[union-attr]
    assert (tmp_path / "catalogue" / "page-2.html").is_file()
    assert (tmp_path / site.catalogue.books[0].path).is_file()
    assert (tmp_path / "catalogue/category/books_1/index.html").is_file()
    assert (tmp_path / "robots.txt").read_text() == "User-agent: *\nAllow: /\n"
