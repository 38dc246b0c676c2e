"""All SQL of the catalogue."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, case, delete, func, literal_column, select, text
from sqlalchemy.orm import Session

from vitrine.catalog.schemas import BookFilters, BookSort
from vitrine.models import Book, BookChange, Category, ScrapeRun

_SORT_COLUMNS: dict[str, Any] = {
    "id": Book.id,
    "title": Book.title,
    "price": Book.price,
    "rating": Book.rating,
    "availability": Book.availability,
    "updated_at": Book.updated_at,
}


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(filters: BookFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if filters.category is not None:
        conds.append(func.lower(Book.category) == filters.category.strip().lower())
    if filters.min_price is not None:
        conds.append(Book.price >= filters.min_price)
    if filters.max_price is not None:
        conds.append(Book.price <= filters.max_price)
    if filters.min_rating is not None:
        conds.append(Book.rating >= filters.min_rating)
    if filters.in_stock is True:
        conds.append(Book.availability > 0)
    elif filters.in_stock is False:
        conds.append(Book.availability <= 0)
    if filters.title:
        pattern = f"%{_escape_like(filters.title.lower())}%"
        conds.append(func.lower(Book.title).like(pattern, escape="\\"))
    return conds


def _order(sort: BookSort) -> list[Any]:
    name = sort.value.lstrip("-")
    column = _SORT_COLUMNS[name]
    primary = column.desc() if sort.value.startswith("-") else column.asc()
    return [primary] if name == "id" else [primary, Book.id.asc()]


def _page(session: Session, stmt: Select[Any], offset: int, limit: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(session.scalars(stmt.offset(offset).limit(limit))) if offset < total else []
    return rows, total


def list_books(
    session: Session, filters: BookFilters, sort: BookSort, offset: int, limit: int
) -> tuple[list[Book], int]:
    stmt = select(Book).where(*_conditions(filters)).order_by(*_order(sort))
    return _page(session, stmt, offset, limit)


def get_book(session: Session, book_id: int) -> Book | None:
    return session.get(Book, book_id)


def top_rated(session: Session, limit: int) -> list[Book]:
    stmt = select(Book).order_by(Book.rating.desc(), Book.title.asc(), Book.id.asc()).limit(limit)
    return list(session.scalars(stmt))


_FTS_TOKEN = re.compile(r"\w+", re.UNICODE)


def full_text_search(session: Session, query: str, offset: int, limit: int) -> tuple[list[tuple[Book, float]], int]:
    """Ranked search over title and description (FTS5 on SQLite, tsvector on PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        tokens = _FTS_TOKEN.findall(query)
        if not tokens:
            return [], 0
        match = " ".join('"' + token.replace('"', "") + '"' for token in tokens)
        base = "FROM books_fts JOIN books ON books.id = books_fts.rowid WHERE books_fts MATCH :match"
        total = session.execute(text(f"SELECT count(*) {base}"), {"match": match}).scalar_one()
        rows = session.execute(
            text(
                f"SELECT books.id, -bm25(books_fts, 10.0, 1.0) AS score {base} "
                "ORDER BY score DESC, books.id ASC LIMIT :limit OFFSET :offset"
            ),
            {"match": match, "limit": limit, "offset": offset},
        ).all()
    else:
        document = func.to_tsvector(
            literal_column("'english'"),
            func.coalesce(Book.title, "") + " " + func.coalesce(Book.description, ""),
        )
        tsquery = func.websearch_to_tsquery(literal_column("'english'"), query)
        rank = func.ts_rank(document, tsquery).label("score")
        where = document.op("@@")(tsquery)
        total = session.scalar(select(func.count()).select_from(Book).where(where)) or 0
        rows = session.execute(
            select(Book.id, rank).where(where).order_by(rank.desc(), Book.id.asc()).offset(offset).limit(limit)
        ).all()
    ids = [row[0] for row in rows]
    books = {book.id: book for book in session.scalars(select(Book).where(Book.id.in_(ids)))}
    return [(books[row[0]], float(row[1])) for row in rows if row[0] in books], int(total)


def categories_with_counts(session: Session) -> list[tuple[str, str, str, int]]:
    counts = select(Book.category.label("name"), func.count(Book.id).label("n")).group_by(Book.category).subquery()
    stmt = (
        select(Category.name, Category.slug, Category.url, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.name == Category.name)
        .order_by(Category.name)
    )
    rows = [(r[0], r[1], r[2], int(r[3])) for r in session.execute(stmt)]
    known = {r[0] for r in rows}
    orphans = select(Book.category, func.count(Book.id)).group_by(Book.category)
    if known:
        orphans = orphans.where(Book.category.not_in(known))
    orphan = session.execute(orphans).all()
    rows.extend((name, "", "", int(n)) for name, n in orphan)
    return sorted(rows, key=lambda r: r[0].lower())


def overview(session: Session) -> dict[str, Any]:
    total, mean, low, high, in_stock = session.execute(
        select(
            func.count(Book.id),
            func.avg(Book.price),
            func.min(Book.price),
            func.max(Book.price),
            func.coalesce(func.sum(case((Book.availability > 0, 1), else_=0)), 0),
        )
    ).one()
    distribution = dict(session.execute(select(Book.rating, func.count()).group_by(Book.rating)).all())
    categories = session.scalar(select(func.count(func.distinct(Book.category)))) or 0
    last = session.scalar(select(func.max(ScrapeRun.finished_at)).where(ScrapeRun.status == "succeeded"))
    return {
        "total_books": int(total),
        "mean_price": _money(mean),
        "min_price": low,
        "max_price": high,
        "rating_distribution": {str(r): int(distribution.get(r, 0)) for r in range(1, 6)},
        "in_stock": int(in_stock or 0),
        "out_of_stock": int(total) - int(in_stock or 0),
        "categories": int(categories),
        "last_crawl_at": last,
    }


def category_stats(session: Session) -> list[tuple[str, int, Decimal, Decimal, Decimal, float]]:
    stmt = (
        select(
            Book.category,
            func.count(Book.id),
            func.avg(Book.price),
            func.min(Book.price),
            func.max(Book.price),
            func.avg(Book.rating),
        )
        .group_by(Book.category)
        .order_by(Book.category)
    )
    return [
        (name, int(n), _money(mean) or Decimal(0), low, high, round(float(rating), 4))
        for name, n, mean, low, high, rating in session.execute(stmt)
    ]


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def book_history(session: Session, book_id: int, offset: int, limit: int) -> tuple[list[BookChange], int]:
    stmt = (
        select(BookChange)
        .where(BookChange.book_id == book_id)
        .order_by(BookChange.changed_at.asc(), BookChange.id.asc())
    )
    return _page(session, stmt, offset, limit)


def data_version(session: Session) -> tuple[Any, ...]:
    """A cheap fingerprint of the catalogue: changes whenever a crawl or an admin changes the data."""
    books = session.execute(select(func.count(Book.id), func.max(Book.updated_at))).one()
    runs = session.execute(select(func.count(ScrapeRun.id), func.max(ScrapeRun.finished_at))).one()
    changes = session.scalar(select(func.max(BookChange.id)))
    return (*books, *runs, changes)


def delete_all_books(session: Session) -> int:
    session.execute(delete(BookChange))
    result = session.execute(delete(Book))
    session.execute(delete(Category))
    session.execute(text("DELETE FROM crawl_pages"))
    return int(getattr(result, "rowcount", 0) or 0)
