"""Catalogue rules: validation across parameters, shaping of results."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from vitrine.catalog import repository
from vitrine.catalog.schemas import (
    BookChangePage,
    BookChangeRead,
    BookFilters,
    BookPage,
    BookRead,
    BookSort,
    CategoryList,
    CategoryRead,
    CategoryStats,
    CategoryStatsList,
    ScoredBook,
    ScoredBookPage,
    StatsOverview,
)
from vitrine.errors import NotFound, Unprocessable
from vitrine.kit.pagination import PageParams


def check_price_bounds(low: Decimal | None, high: Decimal | None, names: tuple[str, str]) -> None:
    if low is not None and high is not None and low > high:
        raise Unprocessable(f"{names[0]} ({low}) must not be greater than {names[1]} ({high})")


def list_books(session: Session, filters: BookFilters, sort: BookSort, page: PageParams) -> BookPage:
    check_price_bounds(filters.min_price, filters.max_price, ("min_price", "max_price"))
    books, total = repository.list_books(session, filters, sort, page.offset, page.size)
    return BookPage.build([BookRead.model_validate(b) for b in books], total, page)


def get_book(session: Session, book_id: int) -> BookRead:
    book = repository.get_book(session, book_id)
    if book is None:
        raise NotFound(f"Book {book_id} not found")
    return BookRead.model_validate(book)


def check_search_terms(title: str | None, category: str | None, query: str | None) -> None:
    title, category, query = (v.strip() if v else "" for v in (title, category, query))
    if not (title or category or query):
        raise Unprocessable("Give at least one of: title, category, q")
    if query and (title or category):
        raise Unprocessable("q (full-text search) cannot be combined with title or category")


def search_books(
    session: Session, title: str | None, category: str | None, query: str | None, page: PageParams
) -> BookPage | ScoredBookPage:
    check_search_terms(title, category, query)
    title = title.strip() if title else None
    category = category.strip() if category else None
    query = query.strip() if query else None
    if query:
        scored, total = repository.full_text_search(session, query, page.offset, page.size)
        items = [ScoredBook(**BookRead.model_validate(b).model_dump(), score=round(s, 6)) for b, s in scored]
        return ScoredBookPage.build(items, total, page)
    filters = BookFilters(title=title or None, category=category or None)
    return list_books(session, filters, BookSort.id_asc, page)


def top_rated(session: Session, limit: int) -> list[BookRead]:
    return [BookRead.model_validate(b) for b in repository.top_rated(session, limit)]


def price_range(session: Session, low: Decimal, high: Decimal, page: PageParams) -> BookPage:
    check_price_bounds(low, high, ("min", "max"))
    filters = BookFilters(min_price=low, max_price=high)
    return list_books(session, filters, BookSort.price_asc, page)


def categories(session: Session) -> CategoryList:
    rows = repository.categories_with_counts(session)
    items = [CategoryRead(name=n, slug=s, url=u, book_count=c) for n, s, u, c in rows]
    return CategoryList(items=items, total=len(items))


def overview(session: Session) -> StatsOverview:
    return StatsOverview(**repository.overview(session))


def category_stats(session: Session) -> CategoryStatsList:
    items = [
        CategoryStats(category=name, book_count=n, mean_price=mean, min_price=low, max_price=high, mean_rating=rating)
        for name, n, mean, low, high, rating in repository.category_stats(session)
    ]
    return CategoryStatsList(items=items, total=len(items))


def book_history(session: Session, book_id: int, page: PageParams) -> BookChangePage:
    if repository.get_book(session, book_id) is None:
        raise NotFound(f"Book {book_id} not found")
    changes, total = repository.book_history(session, book_id, page.offset, page.size)
    items = [BookChangeRead.model_validate(c) for c in changes]
    return BookChangePage.build(items, total, page)


def delete_all_books(session: Session) -> int:
    return repository.delete_all_books(session)
