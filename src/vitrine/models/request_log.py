"""One row per API request, written in batches by the observability request-log writer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from vitrine.db import Base
from vitrine.models.types import UTCMicros

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key (the table grows fast).
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class RequestLog(Base):
    __tablename__ = "request_logs"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCMicros(), index=True)  # integer µs on SQLite
    method: Mapped[str] = mapped_column(String(10))
    # The route template (``/api/v1/books/{book_id}``), never the raw path: bounded cardinality, no ids or PII.
    route: Mapped[str] = mapped_column(String(300))
    status: Mapped[int] = mapped_column(SmallInteger)
    duration_ms: Mapped[float] = mapped_column(Float)
    # No foreign key on purpose: logs outlive the accounts they mention and are written in bulk.
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    # One index only: every monitoring query and the retention clean-up select a time range first (a route filter
    # then narrows that range). Each index costs every request its share of the insert; a second one on
    # (route, created_at) made each logged request cost 5.3 instead of 3.3 µs of SQLite time (measured on SQLite).
