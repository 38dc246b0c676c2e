"""All SQL of the FakeStore domain: the database copy (products, categories) and favorites."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vitrine.fakestore.schemas import ProductSort, UpstreamProduct
from vitrine.models.fakestore_category import FakeStoreCategory
from vitrine.models.fakestore_product import FakeStoreProduct
from vitrine.models.favorite import Favorite
from vitrine.models.user import User


def _insert(session: Session, table: Any) -> Any:
    """``INSERT ... ON CONFLICT`` for the session's dialect (SQLite and PostgreSQL both have it)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts are not implemented for {name}")


# -- products --------------------------------------------------------------------------------------------------


def upsert_products(session: Session, products: Sequence[UpstreamProduct], fetched_at: datetime) -> int:
    if not products:
        return 0
    rows = [
        {
            "id": p.id,
            "title": p.title,
            "price": p.price,
            "description": p.description,
            "category": p.category,
            "image": p.image,
            "rating_rate": p.rating.rate,
            "rating_count": p.rating.count,
            "fetched_at": fetched_at,
        }
        for p in products
    ]
    stmt = _insert(session, FakeStoreProduct)
    stmt = stmt.on_conflict_do_update(
        index_elements=[FakeStoreProduct.id],
        set_={col: stmt.excluded[col] for col in rows[0] if col != "id"},
    )
    session.execute(stmt, rows)
    return len(rows)


def delete_products_except(session: Session, keep: Iterable[int], category: str | None = None) -> int:
    """Remove rows a complete listing no longer has (within ``category`` when given)."""
    condition: ColumnElement[bool] = FakeStoreProduct.id.not_in(list(keep))
    if category is not None:
        condition = condition & (FakeStoreProduct.category == category)
    result = session.execute(delete(FakeStoreProduct).where(condition))
    return int(result.rowcount)  # type: ignore[attr-defined]


def get_product(session: Session, product_id: int) -> FakeStoreProduct | None:
    return session.get(FakeStoreProduct, product_id)


def list_products(
    session: Session, category: str | None, limit: int | None, sort: ProductSort
) -> list[FakeStoreProduct]:
    stmt = select(FakeStoreProduct)
    if category is not None:
        stmt = stmt.where(FakeStoreProduct.category == category)
    order = FakeStoreProduct.id.desc() if sort is ProductSort.desc else FakeStoreProduct.id.asc()
    stmt = stmt.order_by(order)
    if limit:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def count_products(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(FakeStoreProduct)) or 0)


# -- categories ------------------------------------------------------------------------------------------------


def all_categories(session: Session) -> list[FakeStoreCategory]:
    return list(session.scalars(select(FakeStoreCategory).order_by(FakeStoreCategory.name)))


def get_category(session: Session, name: str) -> FakeStoreCategory | None:
    return session.get(FakeStoreCategory, name)


def mark_categories(
    session: Session, names: Iterable[str], *, fetched_at: datetime | None = None, listed_at: datetime | None = None
) -> None:
    """Create missing rows and set the given timestamps (others untouched)."""
    values: dict[str, datetime] = {}
    if fetched_at is not None:
        values["fetched_at"] = fetched_at
    if listed_at is not None:
        values["listed_at"] = listed_at
    rows = [{"name": name, **values} for name in dict.fromkeys(names)]
    if not rows:
        return
    stmt = _insert(session, FakeStoreCategory)
    if values:
        stmt = stmt.on_conflict_do_update(
            index_elements=[FakeStoreCategory.name], set_={col: stmt.excluded[col] for col in values}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=[FakeStoreCategory.name])
    session.execute(stmt, rows)


def delete_categories_except(session: Session, keep: Iterable[str]) -> int:
    result = session.execute(delete(FakeStoreCategory).where(FakeStoreCategory.name.not_in(list(keep))))
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- favorites -------------------------------------------------------------------------------------------------


def user_exists(session: Session, user_id: int) -> bool:
    return session.get(User, user_id) is not None


def insert_favorite(session: Session, user_id: int, product_id: int, created_at: datetime) -> bool:
    """Add the pair unless it exists; True when a row was created. Race-free (the unique constraint decides)."""
    stmt = _insert(session, Favorite).values(user_id=user_id, product_id=product_id, created_at=created_at)
    stmt = stmt.on_conflict_do_nothing(index_elements=[Favorite.user_id, Favorite.product_id]).returning(Favorite.id)
    return session.execute(stmt).scalar_one_or_none() is not None


def get_favorite(session: Session, user_id: int, product_id: int) -> Favorite | None:
    return session.scalars(
        select(Favorite).where(Favorite.user_id == user_id, Favorite.product_id == product_id)
    ).first()


def delete_favorite(session: Session, user_id: int, product_id: int) -> bool:
    result = session.execute(delete(Favorite).where(Favorite.user_id == user_id, Favorite.product_id == product_id))
    return int(result.rowcount) > 0  # type: ignore[attr-defined]


def list_favorites(session: Session, user_id: int, offset: int, limit: int) -> tuple[list[Favorite], int]:
    total = session.scalar(select(func.count()).select_from(Favorite).where(Favorite.user_id == user_id)) or 0
    rows = session.scalars(
        select(Favorite)
        .where(Favorite.user_id == user_id)
        .order_by(Favorite.created_at.desc(), Favorite.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total)
