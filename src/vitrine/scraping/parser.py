"""Parse books.toscrape.com pages (selectolax/lexbor): listing pages and book detail pages.

Every link is resolved against the URL of the page it was found on, because the site's links are relative and
depend on the page's depth. Text comes out of the HTML parser already unescaped (``&#39;`` -> ``'``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

RATING_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_BOOK_ID = re.compile(r"_(\d+)/(?:index\.html?)?$")
_CATEGORY_SLUG = re.compile(r"/category/(?:books/)?([^/]+)/(?:index\.html?|page-\d+\.html?)?$")
_STOCK = re.compile(r"\((\d+)\s+available\)")
_PAGE_OF = re.compile(r"Page\s+(\d+)\s+of\s+(\d+)")
_MONEY = re.compile(r"(\d[\d,]*(?:\.\d+)?)")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_PLAIN_HREF = re.compile(r"[A-Za-z0-9._~%!$&'()*+,;=@-][A-Za-z0-9._~%!$&'()*+,;=@/-]*")
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)


class ParseError(ValueError):
    """A page does not have the structure the parser expects."""


@dataclass(frozen=True, slots=True)
class CategoryLink:
    name: str
    slug: str
    url: str


@dataclass(frozen=True, slots=True)
class ParsedListing:
    book_urls: list[str]
    next_url: str | None
    categories: list[CategoryLink]
    page_number: int | None
    page_count: int | None
    results: int | None


@dataclass(frozen=True, slots=True)
class ParsedBook:
    id: int
    title: str
    price: Decimal
    rating: int
    availability: int
    category: str
    category_url: str
    upc: str
    description: str
    image_url: str
    url: str


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Bytes to text: the header's charset, else the ``<meta>`` charset, else UTF-8 (the site sends none)."""
    charset = None
    if content_type:
        match = _HEADER_CHARSET.search(content_type)
        if match:
            charset = match.group(1)
    if charset is None:
        match_meta = _META_CHARSET.search(body[:2048])
        if match_meta:
            charset = match_meta.group(1).decode("ascii")
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return body.decode("utf-8", errors="replace")


def book_id_from_url(url: str) -> int | None:
    match = _BOOK_ID.search(urlsplit(url).path)
    return int(match.group(1)) if match else None


def category_slug_from_url(url: str) -> str:
    match = _CATEGORY_SLUG.search(urlsplit(url).path)
    return match.group(1) if match else ""


def parse_money(text: str) -> Decimal:
    match = _MONEY.search(text.replace("\xa0", " "))
    if not match:
        raise ParseError(f"no amount in {text!r}")
    try:
        return Decimal(match.group(1).replace(",", ""))  # "1,234.50": commas group thousands
    except InvalidOperation as exc:  # pragma: no cover - the regex only lets digits through
        raise ParseError(f"bad amount {text!r}") from exc


def parse_rating(node: LexborNode | None) -> int:
    if node is None:
        raise ParseError("no star-rating")
    for word in (node.attributes.get("class") or "").split():
        rating = RATING_WORDS.get(word.lower())
        if rating:
            return rating
    raise ParseError(f"no rating word in class {node.attributes.get('class')!r}")


def parse_stock(text: str) -> int:
    """``In stock (22 available)`` -> 22; ``Out of stock`` -> 0; a bare ``In stock`` is unknown."""
    match = _STOCK.search(text)
    if match:
        return int(match.group(1))
    if "out of stock" in text.lower():
        return 0
    raise ParseError(f"no stock count in {text.strip()!r}")


def resolve_url(page_url: str, href: str) -> str:
    """``urljoin`` for the relative paths the site uses, without its cost (~10x faster); anything with a scheme,
    a query, a fragment, an absolute path or an unusual character goes through ``urljoin`` itself."""
    if not _PLAIN_HREF.fullmatch(href) or "//" in href or "?" in page_url or "#" in page_url:
        return urljoin(page_url, href)
    scheme_end = page_url.find("://")
    path_start = page_url.find("/", scheme_end + 3) if scheme_end > 0 else -1
    if path_start < 0:
        return urljoin(page_url, href)
    origin, path = page_url[:path_start], page_url[path_start:]
    segments = path[: path.rfind("/") + 1].split("/")[1:-1]  # the base directory, without the file name
    parts = href.split("/")
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "..":
            if segments:
                segments.pop()
            if last:
                segments.append("")
        elif part == ".":
            if last:
                segments.append("")
        else:
            segments.append(part)
    return origin + "/" + "/".join(segments)


def _classes(node: LexborNode) -> list[str]:
    return (node.attributes.get("class") or "").split()


def _first(node: LexborNode | None, tag: str) -> LexborNode | None:
    """The first element ``tag`` in document order within ``node`` (itself included)."""
    if node is None:
        return None
    for child in node.traverse():
        if child.tag == tag:
            return child
    return None


def _href(node: LexborNode | None, page_url: str, attribute: str = "href") -> str | None:
    if node is None:
        return None
    href = node.attributes.get(attribute)
    return resolve_url(page_url, href.strip()) if href else None


def _text(node: LexborNode | None) -> str:
    return node.text(deep=True).strip() if node is not None else ""


# The parser walks the tree by tag name instead of using CSS selectors: lexbor's CSS engine costs about as much
# to set up per document (~90 us) as parsing the document itself, and a detail page needs a dozen lookups.


def parse_listing(html: str, page_url: str, *, categories: bool = True) -> ParsedListing:
    """A catalogue page: the detail links of its books, the next page, the page counts, and (when asked, since
    every listing repeats them) the sidebar categories."""
    tree = LexborHTMLParser(html)
    book_urls: list[str] = []
    pods = 0
    for article in tree.tags("article"):
        if "product_pod" not in _classes(article):
            continue
        pods += 1
        link = _first(_first(article, "h3"), "a") or _first(article, "a")
        url = _href(link, page_url)
        if url:
            book_urls.append(url)
    next_url = None
    page_number = page_count = None
    pager = next((ul for ul in tree.tags("ul") if "pager" in _classes(ul)), None)
    for item in pager.iter() if pager is not None else ():
        kind = _classes(item)
        if "next" in kind:
            next_url = _href(_first(item, "a"), page_url)
        elif "current" in kind:
            match = _PAGE_OF.search(item.text())
            if match:
                page_number, page_count = int(match.group(1)), int(match.group(2))
    sidebar = next((div for div in tree.tags("div") if "side_categories" in _classes(div)), None)
    if not pods and pager is None and sidebar is None:
        raise ParseError("not a catalogue listing page")
    counter = next((_first(form, "strong") for form in tree.tags("form") if "form-horizontal" in _classes(form)), None)
    results = int(_text(counter)) if counter is not None and _text(counter).isdigit() else None
    return ParsedListing(
        book_urls=book_urls,
        next_url=next_url,
        categories=_sidebar_categories(sidebar, page_url) if categories else [],
        page_number=page_number,
        page_count=page_count,
        results=results,
    )


def _sidebar_categories(sidebar: LexborNode | None, page_url: str) -> list[CategoryLink]:
    """``ul.nav-list > li (Books) > ul > li > a``: the categories nested under the root "Books" entry."""
    found: list[CategoryLink] = []
    top = _first(sidebar, "ul")
    for root_item in top.iter() if top is not None else ():
        nested = next((child for child in root_item.iter() if child.tag == "ul"), None)
        for item in nested.iter() if nested is not None else ():
            link = _first(item, "a")
            url = _href(link, page_url)
            name = _text(link)
            if url and name:
                found.append(CategoryLink(name=name, slug=category_slug_from_url(url), url=url))
    return found


def _table(tree: LexborHTMLParser) -> dict[str, str]:
    """The product information table as ``{header (lower case): value}``."""
    headers = tree.tags("th")
    values = tree.tags("td")
    if len(headers) != len(values):
        return {}
    return {_text(th).lower(): _text(td) for th, td in zip(headers, values, strict=True)}


def _next_element(node: LexborNode | None) -> LexborNode | None:
    sibling = node.next if node is not None else None
    while sibling is not None and not sibling.is_element_node:
        sibling = sibling.next
    return sibling


def parse_detail(html: str, page_url: str) -> ParsedBook:
    """A book's page: every field the catalogue keeps. Raises ParseError when a required part is missing."""
    book_id = book_id_from_url(page_url)
    if book_id is None:
        raise ParseError(f"no book id in {page_url}")
    tree = LexborHTMLParser(html)
    main = gallery = description_header = None
    for div in tree.tags("div"):
        div_id = div.attributes.get("id")
        if div_id == "product_gallery":
            gallery = div
        elif div_id == "product_description":
            description_header = div
        elif main is None and "product_main" in _classes(div):
            main = div
    if main is None:
        raise ParseError("no product_main block")
    title_node = price_node = stock_node = rating_node = None
    for node in main.traverse():
        if node.tag == "h1" and title_node is None:
            title_node = node
        elif node.tag == "p":
            classes = _classes(node)
            if "price_color" in classes and price_node is None:
                price_node = node
            elif "availability" in classes and stock_node is None:
                stock_node = node
            elif "star-rating" in classes and rating_node is None:
                rating_node = node
    title = _text(title_node)
    if not title:
        raise ParseError("no title")
    table = _table(tree)
    crumbs: list[LexborNode] = []
    for ul in tree.tags("ul"):
        if "breadcrumb" in _classes(ul):
            crumbs = [item for item in ul.iter() if item.tag == "li"]
            break
    category_link = _first(crumbs[2], "a") if len(crumbs) >= 4 else None
    if category_link is None:
        raise ParseError("no category in the breadcrumb")
    description_node = _next_element(description_header)
    if description_node is not None and description_node.tag != "p":
        description_node = None
    image = _first(gallery, "img") or next(iter(tree.tags("img")), None)
    return ParsedBook(
        id=book_id,
        title=title,
        price=parse_money(_text(price_node) if price_node is not None else table.get("price (incl. tax)", "")),
        rating=parse_rating(rating_node),
        availability=parse_stock(_text(stock_node) if stock_node is not None else table.get("availability", "")),
        category=_text(category_link),
        category_url=_href(category_link, page_url) or "",
        upc=table.get("upc", ""),
        description=_text(description_node),
        image_url=_href(image, page_url, "src") or "",
        url=page_url,
    )
