"""All SQL of the accounts domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from vitrine.models.audit_event import AuditEvent
from vitrine.models.refresh_token import RefreshToken
from vitrine.models.user import Role, User, normalize_username


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_username(session: Session, username: str) -> User | None:
    if "\x00" in username:  # cannot name an account, and PostgreSQL refuses it in a query
        return None
    stmt = select(User).where(User.username_normalized == normalize_username(username))
    return session.scalars(stmt).one_or_none()


def username_taken(session: Session, username: str) -> bool:
    stmt = select(User.id).where(User.username_normalized == normalize_username(username))
    return session.scalar(stmt) is not None


def any_admin(session: Session) -> bool:
    return session.scalar(select(User.id).where(User.role == Role.admin.value).limit(1)) is not None


def lock_active_admin_ids(session: Session) -> list[int]:
    """Ids of the active admins, row-locked on PostgreSQL so two concurrent demotions cannot both pass."""
    stmt = select(User.id).where(User.role == Role.admin.value, User.is_active.is_(True)).with_for_update()
    return list(session.scalars(stmt))


def list_users(
    session: Session, *, offset: int, limit: int, role: str | None = None, active: bool | None = None
) -> tuple[list[User], int]:
    conditions: list[Any] = []
    if role is not None:
        conditions.append(User.role == role)
    if active is not None:
        conditions.append(User.is_active.is_(active))
    total = session.scalar(select(func.count()).select_from(User).where(*conditions)) or 0
    rows = session.scalars(select(User).where(*conditions).order_by(User.id).offset(offset).limit(limit))
    return list(rows), total


def all_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def delete_user(session: Session, user: User) -> None:
    session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id))
    session.delete(user)
    session.flush()


# Refresh tokens


def add_refresh_token(
    session: Session, *, user_id: int, family_id: str, token_hash: str, expires_at: datetime
) -> RefreshToken:
    row = RefreshToken(user_id=user_id, family_id=family_id, token_hash=token_hash, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def get_refresh_token(session: Session, token_hash: str) -> RefreshToken | None:
    return session.scalars(select(RefreshToken).where(RefreshToken.token_hash == token_hash)).one_or_none()


def consume_refresh_token(session: Session, token_hash: str, now: datetime) -> bool:
    """Mark the token used if, and only if, it is still unused, unrevoked and unexpired (atomic check-and-set)."""
    stmt = (
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == token_hash,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    result: CursorResult[Any] = session.execute(stmt)  # type: ignore[assignment]
    return result.rowcount == 1


def revoke_family(session: Session, family_id: str, now: datetime) -> int:
    stmt = (
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    result: CursorResult[Any] = session.execute(stmt)  # type: ignore[assignment]
    return result.rowcount


def revoke_user_families(session: Session, user_id: int, now: datetime, *, keep_family: str | None = None) -> int:
    conditions: list[Any] = [RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)]
    if keep_family is not None:
        conditions.append(RefreshToken.family_id != keep_family)
    stmt = update(RefreshToken).where(*conditions).values(revoked_at=now).execution_options(synchronize_session=False)
    result: CursorResult[Any] = session.execute(stmt)  # type: ignore[assignment]
    return result.rowcount


def purge_expired_refresh_tokens(session: Session, now: datetime) -> int:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(RefreshToken).where(RefreshToken.expires_at <= now).execution_options(synchronize_session=False)
    )
    return result.rowcount


# Audit log


def list_audit_events(
    session: Session, *, offset: int, limit: int, actor_id: int | None = None, action: str | None = None
) -> tuple[list[AuditEvent], int]:
    conditions: list[Any] = []
    if actor_id is not None:
        conditions.append(AuditEvent.actor_id == actor_id)
    if action is not None:
        if action.endswith("*"):
            conditions.append(AuditEvent.action.startswith(action[:-1], autoescape=True))
        else:
            conditions.append(AuditEvent.action == action)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    stmt = (
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(stmt)), total
