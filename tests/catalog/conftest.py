from decimal import Decimal
from typing import Any

import pytest


@pytest.fixture
def catalogue(make_book: Any) -> list[Any]:
    """Six books over three categories with known prices, ratings and stock."""
    rows = [
        {
            "id": 10,
            "title": "A Light in the Attic",
            "price": Decimal("51.77"),
            "rating": 3,
            "availability": 22,
            "category": "Poetry",
            "description": "Shel Silverstein poems for children and adults",
        },
        {
            "id": 20,
            "title": "Tipping the Velvet",
            "price": Decimal("53.74"),
            "rating": 1,
            "availability": 20,
            "category": "Historical Fiction",
            "description": "A novel of Victorian London music halls",
        },
        {
            "id": 30,
            "title": "Soumission",
            "price": Decimal("50.10"),
            "rating": 1,
            "availability": 0,
            "category": "Fiction",
            "description": "Political fiction set in France",
        },
        {
            "id": 40,
            "title": "Sharp Objects",
            "price": Decimal("47.82"),
            "rating": 4,
            "availability": 20,
            "category": "Mystery",
            "description": "A reporter returns to her hometown",
        },
        {
            "id": 50,
            "title": "Sapiens: A Brief History of Humankind",
            "price": Decimal("54.23"),
            "rating": 5,
            "availability": 20,
            "category": "History",
            "description": "How Homo sapiens came to rule the planet",
        },
        {
            "id": 60,
            "title": "The Requiem Red",
            "price": Decimal("22.65"),
            "rating": 5,
            "availability": 19,
            "category": "Young Adult",
            "description": "",
        },
    ]
    return [make_book(**row) for row in rows]
