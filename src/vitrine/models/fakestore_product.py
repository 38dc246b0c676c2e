from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vitrine.db import Base
from vitrine.kit.clock import utcnow
from vitrine.models.types import UTCDateTime


class FakeStoreProduct(Base):
    """The database copy of a FakeStoreAPI product; ``id`` is the upstream id (the natural key of upserts)."""

    __tablename__ = "fakestore_products"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(500))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(200))
    image: Mapped[str] = mapped_column(String(1000), default="")
    rating_rate: Mapped[Decimal] = mapped_column(Numeric(4, 2), default=Decimal("0"))
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    # When this row was last confirmed by the upstream (its ``Age`` when served as a fallback).
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # The API filters by category and orders by id (asc|desc): one index serves both.
    __table_args__ = (Index("ix_fakestore_products_category_id", "category", "id"),)
