"""Helpers for other domains' tests: make an account and a bearer header without a sign-in round trip.

admin = make_account(session, role=Role.admin)
client.delete("/api/v1/...", headers=bearer_headers(settings, admin))
"""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from vitrine.auth.tokens import TokenType, issue, new_family_id
from vitrine.config import Settings
from vitrine.models.user import Role, User, normalize_username

UNUSABLE_PASSWORD_HASH = "!unusable"  # matches no password: the account can only use issued tokens


def make_account(session: Session, *, username: str | None = None, role: Role = Role.user, active: bool = True) -> User:
    """Insert a user (no password hashing, so it is instant) and flush it."""
    name = username or f"test-{secrets.token_hex(4)}"
    user = User(
        username=name,
        username_normalized=normalize_username(name),
        email=f"{normalize_username(name)}@example.com",
        password_hash=UNUSABLE_PASSWORD_HASH,
        role=role.value,
        is_active=active,
    )
    session.add(user)
    session.flush()
    return user


def bearer_headers(settings: Settings, user: User) -> dict[str, str]:
    """An ``Authorization`` header with a fresh access token for ``user``."""
    token = issue(settings, user_id=user.id, typ=TokenType.access, family_id=new_family_id()).token
    return {"Authorization": f"Bearer {token}"}
