"""Accounts: who can sign in and what they may do."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vitrine.db import Base
from vitrine.models.types import TimestampMixin


class Role(StrEnum):
    admin = "admin"
    user = "user"


def normalize_username(username: str) -> str:
    """The form usernames are compared in: ``Alice`` and ``alice`` are the same account."""
    return username.strip().lower()


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Display form, as the user typed it; uniqueness is enforced on the normalized column.
    username: Mapped[str] = mapped_column(String(64))
    username_normalized: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.user.value, index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (CheckConstraint("role IN ('admin', 'user')", name="role"),)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin.value

    def __repr__(self) -> str:  # never include the password hash
        return f"User(id={self.id!r}, username={self.username!r}, role={self.role!r}, active={self.is_active!r})"
