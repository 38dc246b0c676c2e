"""FakeStore rules on a ``Session`` (flush only, never commit): storing snapshots in the database copy, answering
from the copy when the upstream cannot, and favorites.

What the copy may answer (so a fallback never shows a partial list as if it were whole):
- a product by id: any stored row;
- a category's products: only after a *complete* listing of that category (or of all products) was stored;
- all products: only when the set of categories is known (from ``/products/categories`` or a complete listing)
  and every one of them was completely listed;
- the categories: only names the upstream gave as the full set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from vitrine.errors import NotFound
from vitrine.fakestore import repository
from vitrine.fakestore.schemas import UPSTREAM_PRODUCTS, ProductRead, ProductSort, Rating
from vitrine.kit.clock import as_utc, utcnow
from vitrine.models.fakestore_product import FakeStoreProduct
from vitrine.models.favorite import Favorite

# -- snapshots into the database copy -------------------------------------------------------------------------


def snapshot_payload(
    *,
    products: list[dict[str, Any]] | None = None,
    categories: list[str] | None = None,
    complete_listing: bool = False,
    category: str | None = None,
    fetched_at: datetime | None = None,
) -> dict[str, Any]:
    """The JSON parameters of a ``fakestore.upsert`` job: what the upstream answered, and what it covers."""
    return {
        "products": products,
        "categories": categories,
        "complete_listing": complete_listing,
        "category": category,
        "fetched_at": (fetched_at or utcnow()).isoformat(),
    }


@dataclass
class SnapshotCounts:
    products_upserted: int = 0
    products_deleted: int = 0
    categories: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "products_upserted": self.products_upserted,
            "products_deleted": self.products_deleted,
            "categories": self.categories,
        }


def apply_snapshot(session: Session, payload: dict[str, Any]) -> SnapshotCounts:
    """Upsert what one upstream answer said (idempotent: re-applying the same payload changes nothing)."""
    fetched_at = as_utc(datetime.fromisoformat(payload["fetched_at"])) or utcnow()
    counts = SnapshotCounts()
    raw_products = payload.get("products")
    if raw_products is not None:
        products = UPSTREAM_PRODUCTS.validate_python(raw_products)
        counts.products_upserted = repository.upsert_products(session, products, fetched_at)
        if payload.get("complete_listing"):
            category = payload.get("category")
            ids = [p.id for p in products]
            counts.products_deleted = repository.delete_products_except(session, ids, category)
            if category is None:
                seen = [p.category for p in products]
                repository.mark_categories(session, seen, fetched_at=fetched_at, listed_at=fetched_at)
            else:
                repository.mark_categories(session, [category], listed_at=fetched_at)
    names: list[str] | None = payload.get("categories")
    if names is not None:
        repository.mark_categories(session, names, fetched_at=fetched_at)
        repository.delete_categories_except(session, names)
        counts.categories = len(names)
    session.flush()
    return counts


# -- answers from the database copy ---------------------------------------------------------------------------


def product_read(row: FakeStoreProduct) -> ProductRead:
    return ProductRead(
        id=row.id,
        title=row.title,
        price=row.price,
        description=row.description,
        category=row.category,
        image=row.image,
        rating=Rating(rate=row.rating_rate, count=row.rating_count),
    )


def stored_product(session: Session, product_id: int) -> tuple[ProductRead, datetime] | None:
    row = repository.get_product(session, product_id)
    if row is None:
        return None
    return product_read(row), as_utc(row.fetched_at) or utcnow()


def stored_listing(
    session: Session, category: str | None, limit: int | None, sort: ProductSort
) -> tuple[list[ProductRead], datetime] | None:
    """The copy's answer for a listing, with the time it was last complete; None when it cannot answer."""
    if category is not None:
        row = repository.get_category(session, category)
        if row is None or row.listed_at is None:
            return None
        listed_at = as_utc(row.listed_at)
    else:
        rows = repository.all_categories(session)
        known = [r for r in rows if r.fetched_at is not None]
        if not known or any(r.listed_at is None for r in known):
            return None
        listed_at = min(as_utc(r.listed_at) or utcnow() for r in known)
    products = [product_read(p) for p in repository.list_products(session, category, limit, sort)]
    return products, listed_at or utcnow()


def stored_categories(session: Session) -> tuple[list[str], datetime] | None:
    rows = [r for r in repository.all_categories(session) if r.fetched_at is not None]
    if not rows:
        return None
    return [r.name for r in rows], min(as_utc(r.fetched_at) or utcnow() for r in rows)


def is_known_product(session: Session, product_id: int) -> bool:
    return repository.get_product(session, product_id) is not None


# -- favorites -------------------------------------------------------------------------------------------------


def require_user(session: Session, user_id: int) -> None:
    if not repository.user_exists(session, user_id):
        raise NotFound("User not found")


def add_favorite(session: Session, user_id: int, product_id: int) -> tuple[Favorite, bool]:
    """Idempotent: returns the favorite and whether this call created it."""
    created = repository.insert_favorite(session, user_id, product_id, utcnow())
    favorite = repository.get_favorite(session, user_id, product_id)
    assert favorite is not None
    return favorite, created


def remove_favorite(session: Session, user_id: int, product_id: int) -> None:
    if not repository.delete_favorite(session, user_id, product_id):
        raise NotFound("This product is not among the favorites")


def list_favorites(session: Session, user_id: int, offset: int, limit: int) -> tuple[list[Favorite], int]:
    return repository.list_favorites(session, user_id, offset, limit)
