"""Real-database fixtures.

The suite runs on SQLite by default and on PostgreSQL when ``VITRINE_TEST_DATABASE_URL`` is set. The schema
comes from the migrations; each test runs inside a connection-level transaction that is rolled back at the end,
and the code under test commits to SAVEPOINTs inside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from vitrine.config import Environment, Settings
from vitrine.db import SessionFactory, make_engine
from vitrine.main import create_app
from vitrine.migrate import upgrade

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(name: str, reason: str) -> None:
    """Skip on a developer machine without the service; fail in CI, where it must be there."""
    if IN_CI:
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} unavailable: {reason}")


def schema_database_url(database_url: str, sqlite_dir: Path, schema: str) -> str:
    """A migrated database of its own for code that commits for real (background threads, other processes): a
    fresh PostgreSQL schema in the test database, or an SQLite file in ``sqlite_dir``."""
    if database_url.startswith("postgresql"):
        admin = make_engine(database_url, pool_size=1, max_overflow=0)
        try:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        except Exception as exc:  # pragma: no cover - depends on the machine
            require_service("PostgreSQL", str(exc))
        finally:
            admin.dispose()
        url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
        own_url = url.render_as_string(hide_password=False)
    else:
        own_url = f"sqlite:///{sqlite_dir / (schema + '.db')}"
    upgrade(own_url)
    return own_url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("VITRINE_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def _reset_postgres(url: str) -> None:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def _sqlite_savepoint_fix(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, emit BEGIN, so SAVEPOINTs work (SQLAlchemy's documented recipe)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    if database_url.startswith("postgresql"):
        try:
            _reset_postgres(database_url)
        except Exception as exc:  # pragma: no cover - depends on the machine
            require_service("PostgreSQL", str(exc))
    upgrade(database_url)
    eng = make_engine(database_url, pool_size=5, max_overflow=5)
    if eng.dialect.name == "sqlite":
        _sqlite_savepoint_fix(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        try:
            yield conn
        finally:
            outer.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> SessionFactory:
    return sessionmaker(
        bind=connection, expire_on_commit=False, autoflush=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
def session(session_factory: SessionFactory) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=database_url,
        catalog_cache_seconds=0,
        secret_key="test-secret-key-that-is-long-enough-for-hs256-0123456789",  # type: ignore[arg-type]
        ml={"artifacts_dir": tmp_path / "models"},  # type: ignore[arg-type]
        # Cheap Argon2 in tests: the cost is a deployment knob, not behaviour under test.
        auth={"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1},  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def app(settings: Settings, session_factory: SessionFactory) -> FastAPI:
    return create_app(settings, session_factory=session_factory)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def make_book(session: Session) -> Any:
    """Insert a book (and its category) with sensible defaults; returns the ORM object."""
    from decimal import Decimal

    from vitrine.models import Book, Category

    counter = iter(range(1, 100_000))

    def _make(**fields: Any) -> Book:
        number = next(counter)
        values: dict[str, Any] = {
            "id": number,
            "title": f"Book number {number}",
            "price": Decimal("10.00") + number,
            "rating": (number % 5) + 1,
            "availability": number % 7,
            "category": "Poetry",
            "upc": f"upc{number:013d}",
            "description": f"Description of book {number}",
            "image_url": f"http://books.local/media/{number}.jpg",
            "url": f"http://books.local/catalogue/book_{number}/index.html",
        }
        values.update(fields)
        name = values["category"]
        if session.query(Category).filter_by(name=name).first() is None:
            session.add(Category(name=name, slug=name.lower().replace(" ", "-"), url=""))
        book = Book(**values)
        session.add(book)
        session.commit()
        return book

    return _make
