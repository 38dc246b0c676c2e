"""Fixtures of the ML tests: synthetic books with a planted signal, accounts, a small trained result, and a
"background" database (its own SQLite file, or an ``ml_bg`` schema in the PostgreSQL test database) with real
commits, for the tests where other threads or processes must see the data."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests.conftest import schema_database_url

import vitrine.models  # noqa: F401  (every table, for the clean-up between tests)
from vitrine.auth.testing import bearer_headers, make_account
from vitrine.config import Environment, MLSettings, Settings
from vitrine.db import Base, SessionFactory, make_engine, make_session_factory
from vitrine.ml.training import LabeledBook, TrainingConfig, TrainingResult, train
from vitrine.models import Book, Category
from vitrine.models.user import Role

BG_SCHEMA = "ml_bg"
SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"

CATEGORIES = ("Poetry", "Travel", "Mystery", "Fiction")
# One word per rating, planted in most descriptions: a signal the text features can find.
RATING_WORDS = {1: "dreadful", 2: "tedious", 3: "decent", 4: "engaging", 5: "masterpiece"}
FILLER = [
    "river",
    "mountain",
    "letter",
    "window",
    "garden",
    "morning",
    "silver",
    "story",
    "journey",
    "family",
    "city",
    "winter",
]
FAST = TrainingConfig(models=("logistic_regression", "random_forest"), cv_folds=3, n_jobs=2)


class TestMLSettings(MLSettings):
    """Settings the coordinator adds to ``MLSettings``; declared here so the tests can set them."""

    __test__ = False
    prediction_log_sample_rate: float = 0.1
    train_n_jobs: int = 2


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def synthetic_books(n: int = 200, seed: int = 7, start_id: int = 1) -> list[dict[str, Any]]:
    """Books whose rating shows in their price, category and description (ratings evenly spread)."""
    rng = random.Random(seed)
    books = []
    for i in range(n):
        rating = i % 5 + 1
        category = "Fiction" if rating >= 4 and rng.random() < 0.7 else rng.choice(CATEGORIES[:3])
        words = rng.sample(FILLER, 6)
        if rng.random() < 0.8:
            words.insert(rng.randrange(len(words)), RATING_WORDS[rating])
        book_id = start_id + i
        books.append(
            {
                "id": book_id,
                "title": f"The {rng.choice(FILLER)} of {rng.choice(FILLER)} {book_id}",
                "price": Decimal(f"{8 * rating + rng.uniform(0, 8):.2f}"),
                "rating": rating,
                "availability": rng.randrange(0, 20),
                "category": category,
                "upc": f"upc{book_id:013d}",
                "description": " ".join(words).capitalize() + ". A story told well.",
                "image_url": "",
                "url": f"http://books.local/catalogue/book_{book_id}/index.html",
            }
        )
    return books


def insert_books(session: Session, books: list[dict[str, Any]]) -> None:
    existing = {name for (name,) in session.query(Category.name)}
    for name in sorted({b["category"] for b in books} - existing):
        session.add(Category(name=name, slug=name.lower(), url=""))
    session.add_all(Book(**b) for b in books)
    session.commit()


def labeled(books: list[dict[str, Any]]) -> list[LabeledBook]:
    from vitrine.ml.features import BookInput

    return [
        LabeledBook(
            book_id=b["id"],
            book=BookInput(b["title"], b["price"], b["category"], b["availability"], b["description"]),
            rating=b["rating"],
        )
        for b in books
    ]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    ml = TestMLSettings(**{**settings.ml.model_dump(), "prediction_log_sample_rate": 1.0})
    return settings.model_copy(update={"ml": ml})


@pytest.fixture
def books(session: Session) -> list[dict[str, Any]]:
    data = synthetic_books()
    insert_books(session, data)
    return data


@pytest.fixture(scope="session")
def trained() -> TrainingResult:
    """Two small models trained once for the whole session (training is a pure function of the rows)."""
    return train(labeled(synthetic_books()), FAST)


@pytest.fixture
def user_headers(session: Session, settings: Settings) -> dict[str, str]:
    user = make_account(session)
    session.commit()
    return bearer_headers(settings, user)


@pytest.fixture
def admin_headers(session: Session, settings: Settings) -> dict[str, str]:
    admin = make_account(session, role=Role.admin)
    session.commit()
    return bearer_headers(settings, admin)


# -- the background database --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def bg_database_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return schema_database_url(database_url, tmp_path_factory.mktemp("ml-bg"), BG_SCHEMA)


@pytest.fixture(scope="session")
def bg_engine(bg_database_url: str) -> Iterator[Engine]:
    engine = make_engine(bg_database_url, pool_size=10, max_overflow=10)
    yield engine
    engine.dispose()


@pytest.fixture
def bg_factory(bg_engine: Engine) -> Iterator[SessionFactory]:
    yield make_session_factory(bg_engine)
    with bg_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def bg_settings(bg_database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=bg_database_url,
        catalog_cache_seconds=0,
        secret_key=SECRET,  # type: ignore[arg-type]
        ml=TestMLSettings(artifacts_dir=tmp_path / "models", reload_interval_seconds=0.1, prediction_log_sample_rate=1),
        observability={"request_log": False},  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
