from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vitrine.db import Base
from vitrine.kit.clock import utcnow
from vitrine.models.types import UTCDateTime


class Favorite(Base):
    """A user's favorite FakeStore product. One row per (user, product), enforced by the database.

    ``product_id`` is the upstream id and deliberately has no foreign key to the database copy: a favorite may be
    added while the product is known only upstream, and it survives a refresh that drops the product.
    """

    __tablename__ = "favorites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "product_id"),)
