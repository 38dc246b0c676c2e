"""All SQL of the ML domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from vitrine.ml.features import BookInput
from vitrine.ml.training import LabeledBook
from vitrine.models.book import Book
from vitrine.models.ml_model_version import MLModelVersion
from vitrine.models.ml_prediction_log import MLPredictionLog

_BOOK_COLUMNS = (Book.id, Book.title, Book.price, Book.category, Book.availability, Book.description, Book.rating)


class ActiveRef(NamedTuple):
    """What the reload poll needs to decide whether a process holds the active version."""

    id: int
    name: str
    version: int
    artifact_sha256: str


def _labeled(row: Any) -> LabeledBook:
    book = BookInput(
        title=row.title,
        price=row.price,
        category=row.category,
        availability=row.availability,
        description=row.description or "",
    )
    return LabeledBook(book_id=row.id, book=book, rating=int(row.rating))


def labeled_books(session: Session) -> list[LabeledBook]:
    return [_labeled(row) for row in session.execute(select(*_BOOK_COLUMNS).order_by(Book.id))]


def labeled_books_page(session: Session, *, offset: int, limit: int) -> list[LabeledBook]:
    stmt = select(*_BOOK_COLUMNS).order_by(Book.id).offset(offset).limit(limit)
    return [_labeled(row) for row in session.execute(stmt)]


def labeled_books_after(session: Session, after_id: int, limit: int) -> list[LabeledBook]:
    """Keyset page for streaming exports: no OFFSET scan however far the stream has gone."""
    stmt = select(*_BOOK_COLUMNS).where(Book.id > after_id).order_by(Book.id).limit(limit)
    return [_labeled(row) for row in session.execute(stmt)]


def count_books(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Book)) or 0)


def next_version(session: Session, name: str) -> int:
    current = session.scalar(select(func.max(MLModelVersion.version)).where(MLModelVersion.name == name))
    return int(current or 0) + 1


def add_version(session: Session, version: MLModelVersion) -> MLModelVersion:
    session.add(version)
    session.flush()
    return version


def get_version(session: Session, name: str, version: int) -> MLModelVersion | None:
    stmt = select(MLModelVersion).where(MLModelVersion.name == name, MLModelVersion.version == version)
    return session.scalars(stmt).one_or_none()


def get_version_by_id(session: Session, version_id: int) -> MLModelVersion | None:
    return session.get(MLModelVersion, version_id)


def active_version(session: Session, name: str) -> MLModelVersion | None:
    stmt = select(MLModelVersion).where(MLModelVersion.name == name, MLModelVersion.is_active.is_(True))
    return session.scalars(stmt).one_or_none()


def active_refs(session: Session) -> list[ActiveRef]:
    """The one cheap query every API process runs each reload interval."""
    stmt = select(MLModelVersion.id, MLModelVersion.name, MLModelVersion.version, MLModelVersion.artifact_sha256).where(
        MLModelVersion.is_active.is_(True)
    )
    return [ActiveRef(*row) for row in session.execute(stmt)]


def list_versions(session: Session, *, name: str | None, offset: int, limit: int) -> tuple[list[MLModelVersion], int]:
    where = [MLModelVersion.name == name] if name else []
    total = session.scalar(select(func.count()).select_from(MLModelVersion).where(*where)) or 0
    stmt = (
        select(MLModelVersion)
        .where(*where)
        .order_by(MLModelVersion.name, MLModelVersion.version.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(stmt)), int(total)


def set_active(session: Session, target: MLModelVersion, now: datetime) -> None:
    """Deactivate the current version, then activate ``target``: in that order, for the unique partial index."""
    session.execute(
        update(MLModelVersion)
        .where(MLModelVersion.name == target.name, MLModelVersion.is_active.is_(True))
        .values(is_active=False)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(MLModelVersion)
        .where(MLModelVersion.id == target.id)
        .values(is_active=True, promoted_at=now)
        .execution_options(synchronize_session=False)
    )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, MLModelVersion) and obj.name == target.name:
            session.expire(obj)


def insert_prediction_logs(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    if rows:
        session.execute(insert(MLPredictionLog), list(rows))
    return len(rows)


def delete_prediction_logs_before(session: Session, cutoff: datetime) -> int:
    result = session.execute(
        delete(MLPredictionLog).where(MLPredictionLog.created_at < cutoff).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def recent_prediction_logs(
    session: Session, *, name: str, since: datetime, limit: int
) -> list[tuple[int, dict[str, Any], int]]:
    """Newest first: (model version, scalar features, predicted rating)."""
    stmt = (
        select(MLPredictionLog.model_version, MLPredictionLog.features, MLPredictionLog.predicted_rating)
        .where(MLPredictionLog.model_name == name, MLPredictionLog.created_at >= since)
        .order_by(MLPredictionLog.created_at.desc(), MLPredictionLog.id.desc())
        .limit(limit)
    )
    return [(int(v), dict(f), int(p)) for v, f, p in session.execute(stmt)]
