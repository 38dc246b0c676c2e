"""HTML pages of the books sandbox, in the structure of books.toscrape.com (a django-oscar 1.2 shop).

Written from a reading of the real site's markup: the same URL layout, class names and nesting, depth-dependent
relative links, four-word truncated titles in listings, Django-style escaping (``&#39;``), the description as an
unclassed ``<p>`` after ``div#product_description``, the star rating as a class word, the category only in the
breadcrumb. Text of our own, whitespace of our own.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from vitrine.sandbox.books_data import RATING_WORDS, SITE_CREATED, Catalogue, SandboxBook, SandboxCategory

PAGE_SIZE = 20
SITE_NAME = "Books to Scrape - Sandbox"
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})


def esc(text: str) -> str:
    """Django's ``escape``: the five HTML-special characters, apostrophe as ``&#39;``."""
    return text.translate(_ESCAPES)


def truncate_words(text: str, count: int = 4) -> str:
    words = text.split()
    return text if len(words) <= count else " ".join(words[:count]) + " ..."


@dataclass(frozen=True, slots=True)
class Listing:
    """One listing page: which books, which page of how many, where it lives."""

    path: str
    books: list[SandboxBook]
    number: int
    pages: int
    total: int
    category: SandboxCategory | None  # None: "All products"
    root: bool  # the root "Books" category listing


class PageSet:
    """Every page of a sandbox site, addressed by site-relative path (``index.html``, ``catalogue/...``)."""

    def __init__(self, catalogue: Catalogue, page_size: int = PAGE_SIZE) -> None:
        self.catalogue = catalogue
        self.page_size = page_size
        self.listings: dict[str, Listing] = {}
        self.details: dict[str, SandboxBook] = {}
        self._index()

    def _paged(
        self, books: list[SandboxBook], directory: str, category: SandboxCategory | None, root: bool, home: bool
    ) -> None:
        pages = max(1, -(-len(books) // self.page_size))
        for number in range(1, pages + 1):
            chunk = books[(number - 1) * self.page_size : number * self.page_size]
            names = []
            if home and number == 1:
                names.append("index.html")
            if not home and number == 1:
                names.append(f"{directory}index.html")
            if home or pages > 1:
                names.append(f"{directory}page-{number}.html")
            for path in names:
                self.listings[path] = Listing(path, chunk, number, pages, len(books), category, root)

    def _index(self) -> None:
        books = self.catalogue.books
        self._paged(books, "catalogue/", None, root=False, home=True)
        self._paged(books, "catalogue/category/books_1/", None, root=True, home=False)
        for category in self.catalogue.categories:
            directory = f"catalogue/category/books/{category.slug}/"
            self._paged(self.catalogue.in_category(category), directory, category, root=False, home=False)
        for book in books:
            self.details[book.path] = book

    def paths(self) -> Iterator[str]:
        yield from self.listings
        yield from self.details

    def last_modified(self, path: str) -> datetime | None:
        if path in self.details:
            return self.details[path].modified
        listing = self.listings.get(path)
        if listing is None:
            return None
        return max((book.modified for book in listing.books), default=SITE_CREATED)

    def render(self, path: str) -> str | None:
        if path in self.details:
            return self._detail(path, self.details[path])
        if path in self.listings:
            return self._listing(self.listings[path])
        return None

    # -- pieces ------------------------------------------------------------------------------------------------

    @staticmethod
    def _rel(directory: str, target: str) -> str:
        return posixpath.relpath(target, directory or ".")

    def _category_href(self, directory: str, category: SandboxCategory | None) -> str:
        if category is None:
            return self._rel(directory, "catalogue/category/books_1/index.html")
        return self._rel(directory, f"catalogue/category/books/{category.slug}/index.html")

    def _head(self, directory: str, title: str, description: str = "") -> str:
        static = self._rel(directory, "static/oscar")
        return (
            "\n\n<!DOCTYPE html>\n"
            '<!--[if gt IE 8]><!--> <html lang="en-us" class="no-js"> <!--<![endif]-->\n'
            f"    <head>\n        <title>\n    {title} | {SITE_NAME}\n</title>\n\n"
            '        <meta http-equiv="content-type" content="text/html; charset=UTF-8" />\n'
            '        <meta name="created" content="24th Jun 2016 09:29" />\n'
            f'        <meta name="description" content="\n    {esc(description)}\n" />\n'
            '        <meta name="viewport" content="width=device-width" />\n'
            '        <meta name="robots" content="NOARCHIVE,NOCACHE" />\n'
            f'        <link rel="shortcut icon" href="{static}/favicon.ico" />\n'
            f'        <link rel="stylesheet" type="text/css" href="{static}/css/styles.css" />\n'
            "    </head>\n\n"
            '    <body id="default" class="default">\n'
            '    <header class="header container-fluid">\n        <div class="page_inner">\n'
            f'            <div class="row">\n                <div class="col-sm-8 h1"><a href="'
            f'{self._rel(directory, "index.html")}">Books to Scrape</a><small> We love being scraped!</small>\n'
            "</div>\n            </div>\n        </div>\n    </header>\n"
        )

    @staticmethod
    def _foot() -> str:
        return (
            '\n<footer class="footer container-fluid">\n\n</footer>\n'
            "        <!-- Version: N/A -->\n    </body>\n</html>\n"
        )

    def _sidebar(self, directory: str, current: SandboxCategory | None) -> str:
        items = []
        for category in self.catalogue.categories:
            name = esc(category.name)
            label = f"<strong>{name}</strong>" if current is not None and category.id == current.id else name
            items.append(
                "\n                    <li>\n"
                f'                        <a href="{self._category_href(directory, category)}">\n'
                f"                            \n                                {label}\n"
                "                            \n                        </a>\n\n                        </li>"
            )
        return (
            '            <aside class="sidebar col-sm-4 col-md-3">\n'
            '        <div class="side_categories">\n            <ul class="nav nav-list">\n'
            "                    <li>\n"
            f'                        <a href="{self._category_href(directory, None)}">\n'
            "                            \n                                Books\n                            \n"
            "                        </a>\n\n                        <ul>"
            + "".join(items)
            + "\n                            </ul></li>\n            </ul>\n        </div>\n            </aside>\n"
        )

    def _pod(self, directory: str, book: SandboxBook) -> str:
        href = self._rel(directory, book.path)
        title = esc(book.title)
        return (
            '                        <li class="col-xs-6 col-sm-4 col-md-3 col-lg-3">\n\n'
            '    <article class="product_pod">\n'
            '            <div class="image_container">\n'
            f'                    <a href="{href}"><img src="{self._rel(directory, book.thumbnail)}" alt="{title}"'
            ' class="thumbnail"></a>\n            </div>\n\n'
            f'                <p class="star-rating {RATING_WORDS[book.rating - 1]}">\n'
            + '                    <i class="icon-star"></i>\n'
            * 5
            + "                </p>\n\n"
            f'            <h3><a href="{href}" title="{title}">{esc(truncate_words(book.title))}</a></h3>\n\n'
            '            <div class="product_price">\n'
            f'        <p class="price_color">£{book.price}</p>\n\n'
            '<p class="instock availability">\n    <i class="icon-ok"></i>\n    \n        In stock\n    \n</p>\n'
            "    <form>\n"
            '        <button type="submit" class="btn btn-primary btn-block" data-loading-text="Adding...">'
            "Add to basket</button>\n    </form>\n"
            "            </div>\n    </article>\n\n</li>\n"
        )

    def _pager(self, listing: Listing) -> str:
        if listing.pages <= 1:
            return ""
        home = listing.path == "index.html"
        prefix = "catalogue/" if home else ""
        parts = ['    <div>\n        <ul class="pager">\n']
        if listing.number > 1:
            parts.append(
                f'                <li class="previous"><a href="page-{listing.number - 1}.html">previous</a></li>\n'
            )
        parts.append(
            f'            <li class="current">\n                Page {listing.number} of {listing.pages}\n'
            "            </li>\n"
        )
        if listing.number < listing.pages:
            parts.append(
                f'                <li class="next"><a href="{prefix}page-{listing.number + 1}.html">next</a></li>\n'
            )
        parts.append("        </ul>\n    </div>\n")
        return "".join(parts)

    def _listing(self, listing: Listing) -> str:
        directory = posixpath.dirname(listing.path)
        directory = f"{directory}/" if directory else ""
        heading = listing.category.name if listing.category else ("Books" if listing.root else "All products")
        crumbs = f'        <li>\n            <a href="{self._rel(directory, "index.html")}">Home</a>\n        </li>\n'
        if listing.category is not None:
            books_href = self._category_href(directory, None)
            crumbs += f'            <li>\n                <a href="{books_href}">Books</a>\n            </li>\n'
        crumbs += f'        <li class="active">{esc(heading)}</li>\n'
        first = (listing.number - 1) * self.page_size + 1
        last = first + len(listing.books) - 1
        if listing.pages > 1:
            counts = (
                f"<strong>{listing.total}</strong> results - showing <strong>{first}</strong> "
                f"to <strong>{last}</strong>."
            )
        else:
            counts = f"<strong>{listing.total}</strong> result{'s' if listing.total != 1 else ''}."
        return (
            self._head(directory, esc(heading)) + '\n<div class="container-fluid page">\n    <div class="page_inner">\n'
            f'    <ul class="breadcrumb">\n{crumbs}    </ul>\n\n        <div class="row">\n\n'
            + self._sidebar(directory, listing.category)
            + '\n            <div class="col-sm-8 col-md-9">\n'
            f'                <div class="page-header action">\n                    <h1>{esc(heading)}</h1>\n'
            "                </div>\n\n"
            '    <form method="get" class="form-horizontal">\n'
            '        <div style="display:none">\n        </div>\n\n'
            f"                    {counts}\n\n    </form>\n\n"
            "        <section>\n"
            '            <div class="alert alert-warning" role="alert"><strong>Warning!</strong> A sandbox copy for '
            "scraping practice: books, prices and ratings are invented.</div>\n\n"
            '            <div>\n                <ol class="row">\n\n'
            + "".join(self._pod(directory, book) for book in listing.books)
            + "                </ol>\n\n"
            + self._pager(listing)
            + "            </div>\n        </section>\n\n            </div>\n\n"
            "        </div><!-- /row -->\n    </div><!-- /page_inner -->\n</div><!-- /container-fluid -->\n"
            + self._foot()
        )

    def _detail(self, path: str, book: SandboxBook) -> str:
        directory = posixpath.dirname(path) + "/"
        title = esc(book.title)
        stock = f"In stock ({book.availability} available)" if book.availability > 0 else "Out of stock"
        description = ""
        if book.description is not None:
            description = (
                '        <div id="product_description" class="sub-header">\n'
                "            <h2>Product Description</h2>\n        </div>\n"
                f"        <p>{esc(book.description)}</p>\n\n"
            )
        rows = (
            ("UPC", book.upc),
            ("Product Type", "Books"),
            ("Price (excl. tax)", f"£{book.price}"),
            ("Price (incl. tax)", f"£{book.price}"),
            ("Tax", "£0.00"),
        )
        table = "".join(
            f"        <tr>\n            <th>{th}</th><td>{esc(td)}</td>\n        </tr>\n" for th, td in rows
        )
        table += (
            f"            <tr>\n                <th>Availability</th>\n"
            f"                <td>{stock}</td>\n            </tr>\n"
            "            <tr>\n                <th>Number of reviews</th>\n"
            "                <td>0</td>\n            </tr>\n"
        )
        return (
            self._head(directory, title, book.description or "")
            + '\n        <div class="container-fluid page">\n            <div class="page_inner">\n'
            '<ul class="breadcrumb">\n'
            f'    <li>\n        <a href="{self._rel(directory, "index.html")}">Home</a>\n    </li>\n'
            f'        <li>\n            <a href="{self._category_href(directory, None)}">Books</a>\n        </li>\n'
            f'        <li>\n            <a href="{self._category_href(directory, book.category)}">'
            f"{esc(book.category.name)}</a>\n        </li>\n"
            f'        <li class="active">{title}</li>\n</ul>\n\n'
            '<div id="messages">\n</div>\n                <div class="content">\n'
            '                    <div id="content_inner">\n'
            '<article class="product_page"><!-- Start of product page -->\n    <div class="row">\n'
            '        <div class="col-sm-6">\n        <div id="product_gallery" class="carousel">\n'
            '            <div class="thumbnail">\n                <div class="carousel-inner">\n'
            '                    <div class="item active">\n'
            f'                            <img src="{self._rel(directory, book.image)}" alt="{title}" />\n'
            "                    </div>\n                </div>\n            </div>\n        </div>\n        </div>\n\n"
            '        <div class="col-sm-6 product_main">\n'
            f"            <h1>{title}</h1>\n\n"
            f'        <p class="price_color">£{book.price}</p>\n\n'
            f'<p class="instock availability">\n    <i class="icon-ok"></i>\n    \n        {stock}\n    \n</p>\n\n'
            f'    <p class="star-rating {RATING_WORDS[book.rating - 1]}">\n'
            + '        <i class="icon-star"></i>\n'
            * 5
            + "        <!-- reviews are switched off in this sandbox -->&nbsp;\n</p>\n\n            <hr/>\n"
            "        </div><!-- /col-sm-6 -->\n    </div><!-- /row -->\n\n"
            + description
            + '    <div class="sub-header">\n        <h2>Product Information</h2>\n    </div>\n'
            f'    <table class="table table-striped">\n{table}    </table>\n'
            "</article><!-- End of product page -->\n</div>\n"
            "                </div>\n            </div>\n        </div>\n" + self._foot()
        )
