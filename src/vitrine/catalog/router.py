"""Public, read-only books API (the FIAP Tech Challenge contract)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from vitrine.catalog import repository, service
from vitrine.catalog.schemas import (
    BookChangePage,
    BookFilters,
    BookList,
    BookPage,
    BookRead,
    BookSort,
    CategoryList,
    CategoryStatsList,
    ScoredBookPage,
    StatsOverview,
)
from vitrine.errors import error_responses
from vitrine.kit.pagination import PageDep
from vitrine.kit.response_cache import ResponseCache

router = APIRouter(tags=["books"])

BookId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Book id (the number in its page URL)")]
PriceQ = Query(ge=0, le=1_000_000)
ShortText = Query(min_length=1, max_length=200)


def catalog_cache(request: Request) -> ResponseCache:
    """The process's catalogue response cache (a plain call, not a dependency: this is the hot path)."""
    cache: ResponseCache | None = getattr(request.app.state, "catalog_cache", None)
    if cache is None:
        settings = request.app.state.settings
        cache = ResponseCache(
            request.app.state.session_factory,
            repository.data_version,
            version_ttl=settings.catalog_cache_seconds,
        )
        request.app.state.catalog_cache = cache
    return cache


@router.get("/books", response_model=BookPage, responses=error_responses(422))
async def list_books(
    request: Request,
    page: PageDep,
    category: Annotated[str | None, ShortText] = None,
    min_price: Annotated[Decimal | None, PriceQ] = None,
    max_price: Annotated[Decimal | None, PriceQ] = None,
    min_rating: Annotated[int | None, Query(ge=1, le=5)] = None,
    in_stock: bool | None = None,
    sort: BookSort = BookSort.id_asc,
) -> Response:
    """Books, paginated, with optional filters and a sort key (prefix `-` for descending)."""
    service.check_price_bounds(min_price, max_price, ("min_price", "max_price"))
    key = ("books", category, min_price, max_price, min_rating, in_stock, sort.value, page.page, page.size)

    def produce(session: Session) -> BookPage:
        filters = BookFilters(
            category=category, min_price=min_price, max_price=max_price, min_rating=min_rating, in_stock=in_stock
        )
        return service.list_books(session, filters, sort, page)

    return await catalog_cache(request).respond(request, key, produce)


@router.get("/books/search", response_model=BookPage | ScoredBookPage, responses=error_responses(422))
async def search_books(
    request: Request,
    page: PageDep,
    title: Annotated[str | None, Query(max_length=200, description="Case-insensitive substring")] = None,
    category: Annotated[str | None, Query(max_length=200, description="Exact, case-insensitive")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Ranked full-text search")] = None,
) -> Response:
    """Search by title substring and/or exact category (AND), or rank by full-text relevance with `q`."""
    service.check_search_terms(title, category, q)
    key = ("search", title, category, q, page.page, page.size)
    return await catalog_cache(request).respond(
        request, key, lambda s: service.search_books(s, title, category, q, page)
    )


@router.get("/books/top-rated", response_model=list[BookRead])
async def top_rated_books(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> Response:
    """The best-rated books. Ties: title A→Z, then id ascending."""
    return await catalog_cache(request).respond(
        request, ("top", limit), lambda s: BookList(service.top_rated(s, limit))
    )


@router.get("/books/price-range", response_model=BookPage, responses=error_responses(422))
async def books_in_price_range(
    request: Request,
    page: PageDep,
    min: Annotated[Decimal, PriceQ],
    max: Annotated[Decimal, PriceQ],
) -> Response:
    """Books with `min <= price <= max`, cheapest first, paginated."""
    service.check_price_bounds(min, max, ("min", "max"))
    key = ("price-range", str(min), str(max), page.page, page.size)
    return await catalog_cache(request).respond(request, key, lambda s: service.price_range(s, min, max, page))


@router.get("/books/{book_id}", response_model=BookRead, responses=error_responses(404, 422))
async def get_book(request: Request, book_id: BookId) -> Response:
    """One book by id."""
    return await catalog_cache(request).respond(request, ("book", book_id), lambda s: service.get_book(s, book_id))


@router.get("/books/{book_id}/history", response_model=BookChangePage, responses=error_responses(404, 422))
async def get_book_history(request: Request, book_id: BookId, page: PageDep) -> Response:
    """Recorded changes of a book's price and availability, oldest first."""
    key = ("history", book_id, page.page, page.size)
    return await catalog_cache(request).respond(request, key, lambda s: service.book_history(s, book_id, page))


@router.get("/categories", response_model=CategoryList)
async def list_categories(request: Request) -> Response:
    """Every category with its number of books."""
    return await catalog_cache(request).respond(request, ("categories",), service.categories)


@router.get("/stats/overview", response_model=StatsOverview)
async def stats_overview(request: Request) -> Response:
    """Catalogue totals: books, prices, rating distribution, stock, last crawl."""
    return await catalog_cache(request).respond(request, ("overview",), service.overview)


@router.get("/stats/categories", response_model=CategoryStatsList)
async def stats_by_category(request: Request) -> Response:
    """Per category: book count, mean/min/max price and mean rating."""
    return await catalog_cache(request).respond(request, ("category-stats",), service.category_stats)
