"""FakeStoreAPI clients (async for the API's read path, sync for jobs and the CLI), over ``vitrine.kit.http``.

Quirks handled here: an unknown product id answers ``null`` with status 200 (returned as ``None``: a 404 for us);
a non-JSON body, a non-200 status that survived the retries, or a body of the wrong shape raises
:class:`~vitrine.kit.http.InvalidResponse` (an upstream error, counted by the breaker, never a 500).
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import TypeAdapter, ValidationError

from vitrine.config import FakeStoreSettings
from vitrine.fakestore.schemas import (
    UPSTREAM_CATEGORIES,
    UPSTREAM_PRODUCT,
    UPSTREAM_PRODUCTS,
    ProductSort,
    UpstreamProduct,
)
from vitrine.kit.breaker import CircuitBreaker
from vitrine.kit.http import AsyncHttpClient, ClientConfig, HttpClient, InvalidResponse, RetryPolicy

SERVICE = "fakestore"
T = TypeVar("T")


def client_config(settings: FakeStoreSettings, breaker: CircuitBreaker | None) -> ClientConfig:
    policy = RetryPolicy(
        max_retries=settings.max_retries,
        backoff_base=settings.backoff_base_seconds,
        backoff_max=settings.backoff_max_seconds,
    )
    return ClientConfig(
        service=SERVICE,
        base_url=settings.base_url.rstrip("/"),
        timeout=settings.timeout_seconds,
        policy=policy,
        breaker=breaker,
        rate_per_second=settings.requests_per_second,
    )


def make_breaker(settings: FakeStoreSettings) -> CircuitBreaker:
    return CircuitBreaker(
        SERVICE, failure_threshold=settings.breaker_failures, cooldown=settings.breaker_cooldown_seconds
    )


def _parser(adapter: TypeAdapter[T]) -> Any:
    def parse(response: httpx.Response) -> T:
        if response.status_code != 200:
            raise InvalidResponse(f"FakeStore answered {response.status_code}")
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise InvalidResponse("FakeStore sent a body that is not JSON") from exc
        try:
            return adapter.validate_python(data)
        except ValidationError as exc:
            raise InvalidResponse(f"FakeStore sent an unexpected shape: {exc.error_count()} errors") from exc

    return parse


parse_products = _parser(UPSTREAM_PRODUCTS)
parse_categories = _parser(UPSTREAM_CATEGORIES)
_parse_product = _parser(UPSTREAM_PRODUCT)


def product_parser(product_id: int) -> Any:
    """Parse a detail answer; ``None`` is the upstream's "unknown id", another product's body is an error."""

    def parse(response: httpx.Response) -> UpstreamProduct | None:
        result: UpstreamProduct | None = _parse_product(response)
        if result is not None and result.id != product_id:
            raise InvalidResponse(f"FakeStore answered product {result.id} for id {product_id}")
        return result

    return parse


def list_request(category: str | None, limit: int | None, sort: ProductSort) -> tuple[str, dict[str, str]]:
    path = "/products" if category is None else f"/products/category/{quote(category, safe='')}"
    params: dict[str, str] = {}
    if limit:
        params["limit"] = str(limit)
    if sort is ProductSort.desc:
        params["sort"] = "desc"
    return path, params


class FakeStoreClient:
    """Async client used by the read path (``async def`` routes: no thread-pool hop)."""

    def __init__(
        self,
        settings: FakeStoreSettings,
        breaker: CircuitBreaker | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = AsyncHttpClient(client_config(settings, breaker), transport=transport)

    async def list_products(
        self, category: str | None = None, limit: int | None = None, sort: ProductSort = ProductSort.asc
    ) -> list[UpstreamProduct]:
        path, params = list_request(category, limit, sort)
        result: list[UpstreamProduct] = await self.http.call("GET", path, parse_products, params=params)
        return result

    async def get_product(self, product_id: int) -> UpstreamProduct | None:
        parse = product_parser(product_id)
        result: UpstreamProduct | None = await self.http.call("GET", f"/products/{product_id}", parse)
        return result

    async def categories(self) -> list[str]:
        result: list[str] = await self.http.call("GET", "/products/categories", parse_categories)
        return result

    async def aclose(self) -> None:
        await self.http.aclose()


class SyncFakeStoreClient:
    """Blocking client for jobs and the CLI (same policy as the async one)."""

    def __init__(
        self,
        settings: FakeStoreSettings,
        breaker: CircuitBreaker | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = HttpClient(client_config(settings, breaker), transport=transport)

    def list_products(
        self, category: str | None = None, limit: int | None = None, sort: ProductSort = ProductSort.asc
    ) -> list[UpstreamProduct]:
        path, params = list_request(category, limit, sort)
        result: list[UpstreamProduct] = self.http.call("GET", path, parse_products, params=params)
        return result

    def get_product(self, product_id: int) -> UpstreamProduct | None:
        result: UpstreamProduct | None = self.http.call("GET", f"/products/{product_id}", product_parser(product_id))
        return result

    def categories(self) -> list[str]:
        result: list[str] = self.http.call("GET", "/products/categories", parse_categories)
        return result

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SyncFakeStoreClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
