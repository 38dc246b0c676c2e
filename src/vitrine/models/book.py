from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Index, Integer, Numeric, SmallInteger, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from vitrine.db import Base
from vitrine.models.types import TimestampMixin


class Book(TimestampMixin, Base):
    """A book of the catalogue; ``id`` is the number at the end of its detail-page slug."""

    __tablename__ = "books"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(1000))
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2), index=True)
    rating: Mapped[int] = mapped_column(SmallInteger, index=True)
    availability: Mapped[int] = mapped_column(Integer, index=True)
    category: Mapped[str] = mapped_column(String(120), index=True)
    upc: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str] = mapped_column(String(1000), default="")
    url: Mapped[str] = mapped_column(String(1000), default="")
    last_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (Index("ix_books_category_lower", func.lower(category)),)
