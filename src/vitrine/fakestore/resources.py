"""The FakeStore resources our API serves, each with a cache key that includes everything shaping the answer.

Keys (under the cache's prefix): ``fakestore:v1:list:<category|*>:<limit|all>:<asc|desc>``,
``fakestore:v1:product:<id>`` and ``fakestore:v1:categories``. A list and a detail can never share an entry, and
two lists differing in any parameter never do either.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import orjson
from sqlalchemy.orm import Session

from vitrine.fakestore import service
from vitrine.fakestore.client import FakeStoreClient
from vitrine.fakestore.reader import Fetched, Resource, Stored
from vitrine.fakestore.schemas import CategoryList, ProductList, ProductRead, ProductSort

KEY_VERSION = "fakestore:v1"


def list_key(category: str | None, limit: int | None, sort: ProductSort) -> str:
    token = "*" if category is None else "c=" + quote(category, safe="")
    return f"{KEY_VERSION}:list:{token}:{limit or 'all'}:{sort.value}"


def product_key(product_id: int) -> str:
    return f"{KEY_VERSION}:product:{product_id}"


CATEGORIES_KEY = f"{KEY_VERSION}:categories"


def not_found_body(product_id: int) -> bytes:
    return orjson.dumps({"error": "NotFound", "detail": f"Product {product_id} not found"})


def product_list(category: str | None, limit: int | None, sort: ProductSort) -> Resource:
    async def fetch(client: FakeStoreClient, fetched_at: datetime) -> Fetched:
        products = await client.list_products(category, limit, sort)
        items = [ProductRead.from_upstream(p) for p in products]
        body = ProductList(items=items, total=len(items)).model_dump_json().encode()
        payload = service.snapshot_payload(
            products=[p.model_dump(mode="json") for p in products],
            complete_listing=not limit,
            category=category,
            fetched_at=fetched_at,
        )
        return Fetched(200, body, payload)

    def from_database(session: Session) -> Stored | None:
        found = service.stored_listing(session, category, limit, sort)
        if found is None:
            return None
        items, listed_at = found
        return Stored(ProductList(items=items, total=len(items)).model_dump_json().encode(), listed_at.timestamp())

    what = "this product listing" if category is None else f"the listing of category {category!r}"
    return Resource(list_key(category, limit, sort), what, fetch, from_database)


def product_detail(product_id: int) -> Resource:
    async def fetch(client: FakeStoreClient, fetched_at: datetime) -> Fetched:
        product = await client.get_product(product_id)
        if product is None:
            return Fetched(404, not_found_body(product_id))
        body = ProductRead.from_upstream(product).model_dump_json().encode()
        payload = service.snapshot_payload(products=[product.model_dump(mode="json")], fetched_at=fetched_at)
        return Fetched(200, body, payload)

    def from_database(session: Session) -> Stored | None:
        found = service.stored_product(session, product_id)
        if found is None:
            return None
        product, fetched_at = found
        return Stored(product.model_dump_json().encode(), fetched_at.timestamp())

    def is_known(session: Session) -> bool:
        return service.is_known_product(session, product_id)

    return Resource(product_key(product_id), f"product {product_id}", fetch, from_database, is_known)


def categories() -> Resource:
    async def fetch(client: FakeStoreClient, fetched_at: datetime) -> Fetched:
        names = await client.categories()
        body = CategoryList(items=names, total=len(names)).model_dump_json().encode()
        return Fetched(200, body, service.snapshot_payload(categories=names, fetched_at=fetched_at))

    def from_database(session: Session) -> Stored | None:
        found = service.stored_categories(session)
        if found is None:
            return None
        names, fetched_at = found
        return Stored(CategoryList(items=names, total=len(names)).model_dump_json().encode(), fetched_at.timestamp())

    return Resource(CATEGORIES_KEY, "the category list", fetch, from_database)
