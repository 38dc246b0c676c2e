from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vitrine.db import Base
from vitrine.models.types import TimestampMixin


class Category(TimestampMixin, Base):
    """A books.toscrape.com category, as listed in the site's sidebar."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    slug: Mapped[str] = mapped_column(String(160), default="")
    url: Mapped[str] = mapped_column(String(1000), default="")
