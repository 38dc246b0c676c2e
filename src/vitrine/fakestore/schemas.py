"""Shapes of the FakeStore integration: what the upstream must send, and what our API answers."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, TypeAdapter

from vitrine.kit.pagination import Page

MAX_ID = 2**63 - 1
CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
UpstreamMoney = Annotated[Decimal, Field(ge=0, lt=Decimal("1e10")), AfterValidator(_cents)]


class ProductSort(StrEnum):
    asc = "asc"
    desc = "desc"


# -- upstream (validated; anything else is an upstream error) -------------------------------------------------


class UpstreamRating(BaseModel):
    rate: Annotated[Decimal, Field(ge=0, le=99)] = Decimal("0")
    count: Annotated[int, Field(ge=0)] = 0


class UpstreamProduct(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Annotated[int, Field(ge=1, le=MAX_ID)]
    title: Annotated[str, Field(max_length=500)]
    price: UpstreamMoney
    description: str = ""
    category: Annotated[str, Field(min_length=1, max_length=200)]
    image: Annotated[str, Field(max_length=1000)] = ""
    rating: UpstreamRating = Field(default_factory=UpstreamRating)


UPSTREAM_PRODUCTS: TypeAdapter[list[UpstreamProduct]] = TypeAdapter(list[UpstreamProduct])
UPSTREAM_PRODUCT: TypeAdapter[UpstreamProduct | None] = TypeAdapter(UpstreamProduct | None)
UPSTREAM_CATEGORIES: TypeAdapter[list[Annotated[str, Field(min_length=1, max_length=200)]]] = TypeAdapter(
    list[Annotated[str, Field(min_length=1, max_length=200)]]
)


# -- our API ---------------------------------------------------------------------------------------------------


class Rating(BaseModel):
    rate: Money
    count: int


class ProductRead(BaseModel):
    id: int
    title: str
    price: Money
    description: str
    category: str
    image: str
    rating: Rating

    @classmethod
    def from_upstream(cls, product: UpstreamProduct) -> ProductRead:
        return cls(
            id=product.id,
            title=product.title,
            price=product.price,
            description=product.description,
            category=product.category,
            image=product.image,
            rating=Rating(rate=product.rating.rate, count=product.rating.count),
        )


class ProductList(BaseModel):
    items: list[ProductRead]
    total: int


class CategoryList(BaseModel):
    items: list[str]
    total: int


class FavoriteCreate(BaseModel):
    product_id: Annotated[int, Field(ge=1, le=MAX_ID)]


class FavoriteRead(BaseModel):
    product_id: int
    created_at: datetime
    product: ProductRead | None = Field(
        description="The product, through the resilient read path; null when it cannot be resolved right now"
    )
    product_source: str | None = Field(description="cache | upstream | stale-cache | database, or null")


class FavoritePage(Page[FavoriteRead]):
    user_id: int
