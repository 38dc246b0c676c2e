"""FakeStore products (resilient reads) and favorites. HTTP only: parse, authorize, call the reader/service, shape.

Product routes are ``async def``: a cache hit is answered without a thread-pool hop or a query. Every product
answer carries ``X-Vitrine-Source`` (cache | upstream | stale-cache | database) and ``Age`` (seconds since the data
was fetched from FakeStore).
"""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.background import BackgroundTask

from vitrine.auth.audit import record, request_meta
from vitrine.auth.deps import CurrentUser
from vitrine.deps import SessionDep
from vitrine.errors import AppError, NotFound, error_responses
from vitrine.fakestore import resources, service
from vitrine.fakestore.install import get_reader
from vitrine.fakestore.reader import Answer, ProductReader, Resource, Source
from vitrine.fakestore.schemas import (
    MAX_ID,
    CategoryList,
    FavoriteCreate,
    FavoritePage,
    FavoriteRead,
    ProductList,
    ProductRead,
    ProductSort,
)
from vitrine.kit.pagination import Page, PageDep
from vitrine.models.favorite import Favorite
from vitrine.models.user import User

ReaderDep = Annotated[ProductReader, Depends(get_reader)]
ProductId = Annotated[int, Path(ge=1, le=MAX_ID, description="FakeStore product id")]
CategoryQ = Annotated[
    str | None, Query(min_length=1, max_length=200, description="Exact category name, e.g. `men's clothing`")
]
LimitQ = Annotated[int | None, Query(ge=1, le=1000, description="At most this many products (default: all)")]
SortQ = Annotated[ProductSort, Query(description="By id, ascending or descending")]

SOURCE_HEADERS = {
    "X-Vitrine-Source": {"description": "cache | upstream | stale-cache | database", "schema": {"type": "string"}},
    "Age": {"description": "Seconds since the data was fetched from FakeStore", "schema": {"type": "integer"}},
}
READ_ERRORS = error_responses(404, 422, 502, 503)

# One flat router (nested routers cost an extra matching level on every request of the hot read path).
router = APIRouter()
PRODUCTS_TAG: list[str | Enum] = ["fakestore"]
FAVORITES_TAG: list[str | Enum] = ["favorites"]


def respond(reader: ProductReader, answer: Answer) -> Response:
    """The cached bytes as they are, plus the source headers; the copy refresh runs after the response."""
    background = BackgroundTask(reader.persist, answer.upsert) if answer.upsert is not None else None
    return Response(
        content=answer.body,
        status_code=answer.status,
        media_type="application/json",
        headers=answer.headers,
        background=background,
    )


async def _read(request: Request, reader: ProductReader, resource: Resource) -> Response:
    answer = await reader.read(resource)
    if answer.source is Source.cache:
        reader.remember_edge(request.scope, resource)  # the same request can now be answered before routing
    return respond(reader, answer)


async def _list(
    request: Request, reader: ProductReader, category: str | None, limit: int | None, sort: ProductSort
) -> Response:
    return await _read(request, reader, resources.product_list(category, limit, sort))


async def _detail(request: Request, reader: ProductReader, product_id: int) -> Response:
    return await _read(request, reader, resources.product_detail(product_id))


@router.get(
    "/fakestore/products",
    tags=PRODUCTS_TAG,
    response_model=ProductList,
    responses={200: {"headers": SOURCE_HEADERS}, **READ_ERRORS},
)
async def list_products(
    request: Request, reader: ReaderDep, category: CategoryQ = None, limit: LimitQ = None, sort: SortQ = ProductSort.asc
) -> Response:
    """FakeStore products, optionally of one category, limited and sorted by id. Served from the cache, the
    upstream, or (when FakeStore fails) the stale cache or the database copy — see `X-Vitrine-Source`."""
    return await _list(request, reader, category, limit, sort)


@router.get(
    "/fakestore/products/{product_id}",
    tags=PRODUCTS_TAG,
    response_model=ProductRead,
    responses={200: {"headers": SOURCE_HEADERS}, **READ_ERRORS},
)
async def get_product(request: Request, reader: ReaderDep, product_id: ProductId) -> Response:
    """One FakeStore product (404 when FakeStore does not know the id)."""
    return await _detail(request, reader, product_id)


@router.get(
    "/fakestore/categories",
    tags=PRODUCTS_TAG,
    response_model=CategoryList,
    responses={200: {"headers": SOURCE_HEADERS}, **error_responses(502, 503)},
)
async def list_categories(request: Request, reader: ReaderDep) -> Response:
    """FakeStore's category names."""
    return await _read(request, reader, resources.categories())


@router.get(
    "/fakestoreapi",
    tags=PRODUCTS_TAG,
    response_model=ProductList,
    responses={200: {"headers": SOURCE_HEADERS}, **READ_ERRORS},
    deprecated=True,
)
async def list_products_legacy(
    request: Request, reader: ReaderDep, category: CategoryQ = None, limit: LimitQ = None, sort: SortQ = ProductSort.asc
) -> Response:
    """Alias of `GET /api/v1/fakestore/products`, kept for older clients."""
    return await _list(request, reader, category, limit, sort)


@router.get(
    "/fakestoreapi/{product_id}",
    tags=PRODUCTS_TAG,
    response_model=ProductRead,
    responses={200: {"headers": SOURCE_HEADERS}, **READ_ERRORS},
    deprecated=True,
)
async def get_product_legacy(request: Request, reader: ReaderDep, product_id: ProductId) -> Response:
    """Alias of `GET /api/v1/fakestore/products/{product_id}`, kept for older clients."""
    return await _detail(request, reader, product_id)


# -- favorites -------------------------------------------------------------------------------------------------


async def _favorite_reads(reader: ProductReader, favorites: list[Favorite]) -> list[FavoriteRead]:
    """Each favorite with its product through the same resilient read path (a failure leaves ``product`` null)."""

    async def one(favorite: Favorite) -> FavoriteRead:
        product: ProductRead | None = None
        source: str | None = None
        try:
            answer = await reader.read(resources.product_detail(favorite.product_id))
        except AppError:
            answer = None
        if answer is not None and answer.status == 200:
            product = ProductRead.model_validate_json(answer.body)
            source = answer.source.value
        return FavoriteRead(
            product_id=favorite.product_id, created_at=favorite.created_at, product=product, product_source=source
        )

    return list(await asyncio.gather(*(one(f) for f in favorites)))


def _can_see(user: User, owner_id: int) -> bool:
    return user.is_admin or user.id == owner_id


async def _page(reader: ProductReader, session: SessionDep, user_id: int, page: PageDep) -> FavoritePage:
    rows, total = await run_in_threadpool(service.list_favorites, session, user_id, page.offset, page.size)
    built = Page[FavoriteRead].build(await _favorite_reads(reader, rows), total, page)
    return FavoritePage(
        items=built.items, total=built.total, page=built.page, size=built.size, pages=built.pages, user_id=user_id
    )


@router.get("/favorites", tags=FAVORITES_TAG, response_model=FavoritePage, responses=error_responses(401, 422))
async def list_my_favorites(reader: ReaderDep, session: SessionDep, user: CurrentUser, page: PageDep) -> FavoritePage:
    """Your favorite products, newest first, each with its product data (`product_source` says where from)."""
    return await _page(reader, session, user.id, page)


@router.post(
    "/favorites",
    tags=FAVORITES_TAG,
    response_model=FavoriteRead,
    status_code=201,
    responses={
        200: {"model": FavoriteRead, "description": "Already a favorite"},
        **error_responses(401, 404, 422, 502, 503),
    },
)
async def add_favorite(
    reader: ReaderDep,
    session: SessionDep,
    user: CurrentUser,
    body: FavoriteCreate,
    response: Response,
    background: BackgroundTasks,
) -> FavoriteRead:
    """Add a product to your favorites: 201 when added, 200 when it already was (idempotent). 404 when neither
    FakeStore nor the database copy knows the product; 503 when FakeStore is down and the product was never seen."""
    answer = await reader.read(resources.product_detail(body.product_id))
    if answer.status == 404:
        raise NotFound(f"Product {body.product_id} not found")
    favorite, created = await run_in_threadpool(service.add_favorite, session, user.id, body.product_id)
    response.status_code = 201 if created else 200
    if answer.upsert is not None:
        background.add_task(reader.persist, answer.upsert)
    return FavoriteRead(
        product_id=favorite.product_id,
        created_at=favorite.created_at,
        product=ProductRead.model_validate_json(answer.body),
        product_source=answer.source.value,
    )


@router.delete("/favorites/{product_id}", tags=FAVORITES_TAG, status_code=204, responses=error_responses(401, 404, 422))
async def remove_my_favorite(session: SessionDep, user: CurrentUser, product_id: ProductId) -> Response:
    """Remove a product from your favorites (404 when it is not among them)."""
    await run_in_threadpool(service.remove_favorite, session, user.id, product_id)
    return Response(status_code=204)


@router.get(
    "/users/{user_id}/favorites",
    tags=FAVORITES_TAG,
    response_model=FavoritePage,
    responses=error_responses(401, 404, 422),
)
async def list_user_favorites(
    reader: ReaderDep,
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    user_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
) -> FavoritePage:
    """A user's favorites: administrators see anyone's, a user only their own (anyone else's is a 404)."""
    if not _can_see(user, user_id):
        raise NotFound("User not found")
    await run_in_threadpool(service.require_user, session, user_id)
    return await _page(reader, session, user_id, page)


@router.delete(
    "/users/{user_id}/favorites/{product_id}",
    tags=FAVORITES_TAG,
    status_code=204,
    responses=error_responses(401, 404, 422),
)
async def remove_user_favorite(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    user_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    product_id: ProductId,
) -> Response:
    """Remove one of a user's favorites: administrators for anyone, a user only their own (else 404)."""
    if not _can_see(user, user_id):
        raise NotFound("User not found")
    await run_in_threadpool(service.require_user, session, user_id)
    await run_in_threadpool(service.remove_favorite, session, user_id, product_id)
    if user.id != user_id:  # an administrator changing someone else's data
        meta = request_meta(request)
        await run_in_threadpool(
            lambda: record(
                session,
                action="admin.favorite.deleted",
                actor_id=user.id,
                target=f"user:{user_id}",
                detail={"product_id": product_id},
                **meta,
            )
        )
    return Response(status_code=204)
