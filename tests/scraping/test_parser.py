"""The parser on the real site's quirks, with small pages written here in the site's structure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from vitrine.scraping.parser import (
    ParseError,
    book_id_from_url,
    category_slug_from_url,
    decode_html,
    parse_detail,
    parse_listing,
    parse_money,
    parse_stock,
)

DETAIL_URL = "http://books.local/catalogue/the-cook-s-guide-to-caf-life_731/index.html"


def detail_page(
    *,
    title: str = "The Cook&#39;s Guide to Caf\u00e9 Life &amp; Other Tales",
    price: str = "\u00a345.17",
    stock: str = "In stock (14 available)",
    rating: str = "Four",
    description: str | None = "It&#39;s a &quot;feast&quot; \u2014 truly. ...more",
) -> str:
    desc = (
        '<div id="product_description" class="sub-header">\n  <h2>Product Description</h2>\n</div>\n'
        f"<p>{description}</p>\n"
        if description is not None
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en-us"><head><title>
    {title} | Books to Scrape - Sandbox
</title></head><body>
<ul class="breadcrumb">
  <li><a href="../../index.html">Home</a></li>
  <li><a href="../category/books_1/index.html">Books</a></li>
  <li><a href="../category/books/food-and-drink_33/index.html">Food and Drink</a></li>
  <li class="active">{title}</li>
</ul>
<article class="product_page">
  <div class="row">
    <div class="col-sm-6"><div id="product_gallery" class="carousel"><div class="thumbnail">
      <div class="carousel-inner"><div class="item active">
        <img src="../../media/cache/aa/bb/aabbcc.jpg" alt="{title}" />
      </div></div></div></div></div>
    <div class="col-sm-6 product_main">
      <h1>{title}</h1>
      <p class="price_color">{price}</p>
      <p class="instock availability">
        <i class="icon-ok"></i>

            {stock}

      </p>
      <p class="star-rating {rating}">
        <i class="icon-star"></i><i class="icon-star"></i>
        <!-- reviews -->&nbsp;
      </p>
    </div>
  </div>
  {desc}
  <div class="sub-header"><h2>Product Information</h2></div>
  <table class="table table-striped">
    <tr><th>UPC</th><td>9f2c1e7a5b3d4c60</td></tr>
    <tr><th>Product Type</th><td>Books</td></tr>
    <tr><th>Price (excl. tax)</th><td>{price}</td></tr>
    <tr><th>Price (incl. tax)</th><td>{price}</td></tr>
    <tr><th>Tax</th><td>\u00a30.00</td></tr>
    <tr><th>Availability</th><td>{stock}</td></tr>
    <tr><th>Number of reviews</th><td>0</td></tr>
  </table>
</article>
</body></html>"""


def pod(href: str, title: str, shown: str, rating: str = "Three", price: str = "\u00a351.77") -> str:
    return f"""
<li class="col-xs-6 col-sm-4 col-md-3 col-lg-3">
  <article class="product_pod">
    <div class="image_container">
      <a href="{href}"><img src="../media/cache/11/22/1122.jpg" alt="{title}" class="thumbnail"></a>
    </div>
    <p class="star-rating {rating}"><i class="icon-star"></i></p>
    <h3><a href="{href}" title="{title}">{shown}</a></h3>
    <div class="product_price">
      <p class="price_color">{price}</p>
      <p class="instock availability">
          <i class="icon-ok"></i>

              In stock

      </p>
    </div>
  </article>
</li>"""


def listing_page(pods: str, *, pager: str, counts: str, sidebar_prefix: str) -> str:
    return f"""<!DOCTYPE html><html><head><title>All products | Books to Scrape - Sandbox</title></head><body>
<aside class="sidebar col-sm-4 col-md-3"><div class="side_categories"><ul class="nav nav-list">
  <li><a href="{sidebar_prefix}category/books_1/index.html">
        Books
      </a>
    <ul>
      <li><a href="{sidebar_prefix}category/books/travel_2/index.html">
            Travel
          </a></li>
      <li><a href="{sidebar_prefix}category/books/sports-and-games_17/index.html">
            <strong>Sports and Games</strong>
          </a></li>
    </ul></li>
</ul></div></aside>
<form method="get" class="form-horizontal">
  <div style="display:none"></div>
      {counts}
</form>
<section><div><ol class="row">{pods}</ol>
<div><ul class="pager">{pager}</ul></div>
</div></section></body></html>"""


def test_detail_page_gives_every_field_unescaped_and_absolute() -> None:
    book = parse_detail(detail_page(), DETAIL_URL)

    assert book.id == 731
    assert book.title == "The Cook's Guide to Caf\u00e9 Life & Other Tales"
    assert book.price == Decimal("45.17")
    assert book.rating == 4
    assert book.availability == 14
    assert book.category == "Food and Drink"
    assert book.category_url == "http://books.local/catalogue/category/books/food-and-drink_33/index.html"
    assert book.upc == "9f2c1e7a5b3d4c60"
    assert book.description == 'It\'s a "feast" \u2014 truly. ...more'
    assert book.image_url == "http://books.local/media/cache/aa/bb/aabbcc.jpg"
    assert book.url == DETAIL_URL


def test_missing_description_is_empty() -> None:
    book = parse_detail(detail_page(description=None), DETAIL_URL)
    assert book.description == ""
    assert book.upc == "9f2c1e7a5b3d4c60"  # the table after the missing block is still read


@pytest.mark.parametrize(("word", "rating"), [("One", 1), ("Two", 2), ("Three", 3), ("Four", 4), ("Five", 5)])
def test_rating_is_the_class_word(word: str, rating: int) -> None:
    assert parse_detail(detail_page(rating=word), DETAIL_URL).rating == rating


def test_out_of_stock_is_zero() -> None:
    assert parse_detail(detail_page(stock="Out of stock"), DETAIL_URL).availability == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [({"rating": "Zero"}, "rating"), ({"price": "free"}, "amount"), ({"stock": "In stock"}, "stock")],
)
def test_broken_detail_pages_raise_parse_error(change: dict[str, str], message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_detail(detail_page(**change), DETAIL_URL)


def test_a_page_without_product_block_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_detail("<html><body><h1>Not Found</h1></body></html>", DETAIL_URL)


def test_body_without_charset_is_decoded_as_utf8() -> None:
    raw = detail_page().encode("utf-8")
    # What ISO-8859-1 (the HTTP default for text/* without charset) would make of it:
    assert "\u00c2\u00a345.17" in raw.decode("latin-1")
    text = decode_html(raw, "text/html")
    assert parse_detail(text, DETAIL_URL).price == Decimal("45.17")
    assert "Caf\u00e9" in parse_detail(text, DETAIL_URL).title


def test_declared_charsets_are_honoured() -> None:
    body = "<p>\u00a312.50 caf\u00e9</p>".encode("latin-1")
    assert decode_html(body, "text/html; charset=ISO-8859-1") == "<p>\u00a312.50 caf\u00e9</p>"
    meta = b'<html><head><meta http-equiv="content-type" content="text/html; charset=iso-8859-1" /></head>' + body
    assert "\u00a312.50 caf\u00e9" in decode_html(meta, "text/html")
    assert decode_html("\u00e9".encode(), "text/html; charset=no-such-charset") == "\u00e9"


def test_home_listing_links_are_resolved_against_the_root() -> None:
    html = listing_page(
        pod("catalogue/a-light-in-the-sky_1000/index.html", "A Light in the Sky at Night", "A Light in the Sky ...")
        + pod("catalogue/tom-s-caf_999/index.html", "Tom&#39;s Caf\u00e9", "Tom&#39;s Caf\u00e9"),
        pager='<li class="current">\n    Page 1 of 50\n</li>\n'
        '<li class="next"><a href="catalogue/page-2.html">next</a></li>',
        counts="<strong>1000</strong> results - showing <strong>1</strong> to <strong>20</strong>.",
        sidebar_prefix="catalogue/",
    )
    listing = parse_listing(html, "http://books.local/")

    assert listing.book_urls == [
        "http://books.local/catalogue/a-light-in-the-sky_1000/index.html",
        "http://books.local/catalogue/tom-s-caf_999/index.html",
    ]
    assert listing.next_url == "http://books.local/catalogue/page-2.html"
    assert (listing.page_number, listing.page_count, listing.results) == (1, 50, 1000)
    assert [(c.name, c.slug) for c in listing.categories] == [
        ("Travel", "travel_2"),
        ("Sports and Games", "sports-and-games_17"),  # the current category is wrapped in <strong>
    ]
    assert listing.categories[0].url == "http://books.local/catalogue/category/books/travel_2/index.html"


def test_catalogue_page_links_are_relative_to_catalogue() -> None:
    html = listing_page(
        pod("a-light-in-the-sky_1000/index.html", "A Light in the Sky", "A Light in the ..."),
        pager='<li class="previous"><a href="page-1.html">previous</a></li>'
        '<li class="current">Page 2 of 50</li><li class="next"><a href="page-3.html">next</a></li>',
        counts="<strong>1000</strong> results - showing <strong>21</strong> to <strong>40</strong>.",
        sidebar_prefix="",
    )
    listing = parse_listing(html, "http://books.local/catalogue/page-2.html")
    assert listing.book_urls == ["http://books.local/catalogue/a-light-in-the-sky_1000/index.html"]
    assert listing.next_url == "http://books.local/catalogue/page-3.html"  # never "previous"


def test_category_page_links_climb_three_levels() -> None:
    page = "http://books.local/catalogue/category/books/mystery_3/page-2.html"
    html = listing_page(
        pod("../../../the-silent-fox_452/index.html", "The Silent Fox", "The Silent Fox"),
        pager='<li class="previous"><a href="page-1.html">previous</a></li><li class="current">Page 2 of 2</li>',
        counts="<strong>32</strong> results - showing <strong>21</strong> to <strong>32</strong>.",
        sidebar_prefix="../../",
    )
    listing = parse_listing(html, page)
    assert listing.book_urls == ["http://books.local/catalogue/the-silent-fox_452/index.html"]
    assert listing.next_url is None
    assert listing.results == 32


def test_single_result_category_page() -> None:
    html = listing_page(
        pod("../../../only-one_7/index.html", "Only One", "Only One"),
        pager="",
        counts="<strong>1</strong> result.",
        sidebar_prefix="../../",
    )
    listing = parse_listing(html, "http://books.local/catalogue/category/books/almanacs_53/index.html")
    assert listing.results == 1
    assert listing.page_count is None
    assert listing.next_url is None


def test_a_page_that_is_not_a_listing_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_listing("<html><body><p>Hello</p></body></html>", "http://books.local/")


@pytest.mark.parametrize(
    ("url", "book_id"),
    [
        ("http://h/catalogue/a-light-in-the-attic_1000/index.html", 1000),
        ("http://h/catalogue/112263_583/index.html", 583),
        ("http://h/catalogue/x_7/", 7),
        ("http://h/catalogue/page-2.html", None),
    ],
)
def test_book_id_is_the_number_at_the_end_of_the_slug(url: str, book_id: int | None) -> None:
    assert book_id_from_url(url) == book_id


def test_category_slug_and_money_and_stock_helpers() -> None:
    assert category_slug_from_url("http://h/catalogue/category/books/sports-and-games_17/index.html") == (
        "sports-and-games_17"
    )
    assert category_slug_from_url("http://h/catalogue/category/books_1/page-3.html") == "books_1"
    assert parse_money("\u00a3 1,234.50") == Decimal("1234.50")
    assert parse_money("\u00a30.00") == Decimal("0.00")
    assert parse_stock("\n   In stock (1 available)\n") == 1


def test_fast_url_resolution_agrees_with_urljoin() -> None:
    from itertools import product
    from urllib.parse import urljoin

    from vitrine.scraping.parser import resolve_url

    bases = [
        "http://h/",
        "http://h",
        "http://h:8080/index.html",
        "http://h/catalogue/page-2.html",
        "http://h/catalogue/x_1/index.html",
        "http://h/catalogue/category/books/mystery_3/page-2.html",
        "http://h/catalogue/category/books_1/",
        "https://h/a/b/c/",
        "http://h/a/b?q=1",
        "http://h/a/b#frag",
    ]
    hrefs = [
        "catalogue/x_1/index.html",
        "x_1/index.html",
        "../../../x_1/index.html",
        "../../../../media/cache/aa/bb/c.jpg",
        "../../../../../../../too-far.html",
        "page-3.html",
        "./page-3.html",
        "..",
        "../",
        ".",
        "./",
        "a/./b/../c",
        "a//b",
        "/absolute/path.html",
        "//other.host/x",
        "http://elsewhere/y",
        "?page=2",
        "#top",
        "q?x=1",
        "mailto:someone@example.com",
        "caf%C3%A9_3/index.html",
        "",
    ]
    for base, href in product(bases, hrefs):
        assert resolve_url(base, href) == urljoin(base, href), (base, href)
