from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vitrine.db import Base
from vitrine.models.types import UTCDateTime


class FakeStoreCategory(Base):
    """A FakeStoreAPI category, and what the database copy knows about it.

    ``fetched_at``: when the upstream last listed this name among *all* categories (``/products/categories`` or a
    complete product listing) — only such rows answer the categories fallback. ``listed_at``: when a complete
    listing of this category's products was last stored, so the copy can answer for the category on its own.
    """

    __tablename__ = "fakestore_categories"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    listed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
