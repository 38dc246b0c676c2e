from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vitrine.db import Base
from vitrine.kit.clock import utcnow
from vitrine.models.types import UTCDateTime


class CrawlPage(Base):
    """Validators and extracted links of a fetched page, for conditional re-crawls."""

    __tablename__ = "crawl_pages"

    url: Mapped[str] = mapped_column(String(2000), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # listing | detail
    etag: Mapped[str | None] = mapped_column(String(300), nullable=True)
    last_modified: Mapped[str | None] = mapped_column(String(100), nullable=True)
    links: Mapped[list[str]] = mapped_column(JSON, default=list)  # a listing's book detail URLs
    next_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)  # a listing's "next" page
    book_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
