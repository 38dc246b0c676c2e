"""Public shapes of the books API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer, RootModel

from vitrine.kit.pagination import Page

Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class BookSort(StrEnum):
    id_asc = "id"
    id_desc = "-id"
    title_asc = "title"
    title_desc = "-title"
    price_asc = "price"
    price_desc = "-price"
    rating_asc = "rating"
    rating_desc = "-rating"
    availability_asc = "availability"
    availability_desc = "-availability"
    updated_asc = "updated_at"
    updated_desc = "-updated_at"


class BookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    price: Money
    rating: int
    availability: int
    category: str
    upc: str
    description: str
    image_url: str
    url: str
    created_at: datetime
    updated_at: datetime


class BookList(RootModel[list[BookRead]]):
    pass


class BookPage(Page[BookRead]):
    pass


class ScoredBook(BookRead):
    score: float


class ScoredBookPage(Page[ScoredBook]):
    pass


class CategoryRead(BaseModel):
    name: str
    slug: str
    url: str
    book_count: int


class CategoryList(BaseModel):
    items: list[CategoryRead]
    total: int


class StatsOverview(BaseModel):
    total_books: int
    mean_price: Money | None
    min_price: Money | None
    max_price: Money | None
    rating_distribution: dict[str, int]
    in_stock: int
    out_of_stock: int
    categories: int
    last_crawl_at: datetime | None


class CategoryStats(BaseModel):
    category: str
    book_count: int
    mean_price: Money
    min_price: Money
    max_price: Money
    mean_rating: float


class CategoryStatsList(BaseModel):
    items: list[CategoryStats]
    total: int


class BookChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    book_id: int
    run_id: int | None
    changed_at: datetime
    old_price: Money | None
    new_price: Money
    old_availability: int | None
    new_availability: int


class BookChangePage(Page[BookChangeRead]):
    pass


class BookFilters(BaseModel):
    category: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    min_rating: int | None = None
    in_stock: bool | None = None
    title: str | None = None
