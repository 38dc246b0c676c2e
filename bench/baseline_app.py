"""The yardstick: a bare FastAPI endpoint returning a constant 20-book JSON list with a response model."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI
from pydantic import BaseModel


class Book(BaseModel):
    id: int
    title: str
    price: float
    rating: int
    availability: int
    category: str
    upc: str
    description: str
    image_url: str
    url: str
    created_at: datetime
    updated_at: datetime


NOW = datetime(2026, 1, 1, tzinfo=UTC)
BOOKS = [
    Book(
        id=i,
        title=f"Book {i}",
        price=10 + i / 100,
        rating=i % 5 + 1,
        availability=i % 20,
        category="Poetry",
        upc=f"{i:016x}",
        description="A description of a book, about two hundred characters long. " * 3,
        image_url=f"http://books.local/media/{i}.jpg",
        url=f"http://books.local/catalogue/{i}/index.html",
        created_at=NOW,
        updated_at=NOW,
    )
    for i in range(20)
]

app = FastAPI()


@app.get("/books", response_model=list[Book])
async def books() -> list[Book]:
    return BOOKS
