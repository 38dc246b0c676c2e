"""Account rules: sign-up, self-service changes, admin user management, the first admin, the audit trail."""

from __future__ import annotations

import logging
import re

from sqlalchemy.orm import Session

from vitrine.auth import audit, repository
from vitrine.auth.audit import RequestMeta
from vitrine.auth.guard import LoginGuard
from vitrine.auth.passwords import Passwords, check_policy, passwords_for
from vitrine.auth.schemas import (
    USERNAME_PATTERN,
    AuditEventRead,
    AuditPage,
    UserAdminUpdate,
    UserCreate,
    UserPage,
    UserRead,
    UserSelfUpdate,
)
from vitrine.auth.sessions import AuthRejected, check_not_locked
from vitrine.config import Settings
from vitrine.errors import Conflict, Forbidden, NotFound, RateLimited, Unprocessable
from vitrine.kit.clock import utcnow
from vitrine.kit.pagination import PageParams
from vitrine.kit.ratelimit import retry_after_header
from vitrine.models.user import Role, User, normalize_username

logger = logging.getLogger(__name__)

NO_META: RequestMeta = {"client_ip": None, "request_id": None}
_USERNAME = re.compile(USERNAME_PATTERN)


def create_user(
    session: Session,
    settings: Settings,
    passwords: Passwords,
    *,
    username: str,
    email: str,
    password: str,
    role: Role = Role.user,
    actor_id: int | None = None,
    source: str = "api",
    meta: RequestMeta = NO_META,
) -> User:
    username = username.strip()
    if not _USERNAME.fullmatch(username):
        raise Unprocessable(
            [
                {
                    "loc": ["body", "username"],
                    "msg": "Username must be 3-64 characters: letters, digits, '.', '_' or '-'",
                    "type": "username",
                }
            ]
        )
    check_policy(password, username=username, settings=settings)
    if repository.username_taken(session, username):
        raise Conflict("That username is already taken")
    user = User(
        username=username,
        username_normalized=normalize_username(username),
        email=email,
        password_hash=passwords.hash(password),
        role=role.value,
        is_active=True,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        action="user.created",
        actor_id=actor_id if actor_id is not None else user.id,
        target=f"user:{user.id}",
        detail={"username": user.username, "role": user.role, "source": source},
        **meta,
    )
    return user


def signup(
    session: Session,
    settings: Settings,
    passwords: Passwords,
    data: UserCreate,
    *,
    caller: User | None,
    guard: LoginGuard,
    meta: RequestMeta,
) -> User:
    """Self-registration always makes a plain user. With sign-up closed, only an admin may create accounts here.

    Anyone else may register ``signup_max_per_address`` times per window from one client address (429 beyond).
    """
    caller_is_admin = caller is not None and caller.is_admin
    if not settings.auth.open_signup and not caller_is_admin:
        raise Forbidden("Self-registration is disabled; ask an administrator for an account")
    if not caller_is_admin:
        wait = guard.signup_attempt(meta["client_ip"])
        if wait > 0:
            seconds = retry_after_header(wait)
            raise RateLimited(
                f"Too many sign-ups from this address; try again in {seconds} seconds", headers={"Retry-After": seconds}
            )
    return create_user(
        session,
        settings,
        passwords,
        username=data.username,
        email=data.email,
        password=data.password,
        role=Role.user,
        actor_id=caller.id if caller_is_admin and caller is not None else None,
        source="admin" if caller_is_admin else "signup",
        meta=meta,
    )


def update_me(
    session: Session,
    settings: Settings,
    passwords: Passwords,
    guard: LoginGuard,
    user: User,
    data: UserSelfUpdate,
    *,
    current_family: str | None,
    meta: RequestMeta,
) -> User:
    changed: list[str] = []
    if data.password is not None:
        if data.current_password is None:
            raise Unprocessable(
                [
                    {
                        "loc": ["body", "current_password"],
                        "msg": "The current password is required to set a new one",
                        "type": "missing",
                    }
                ]
            )
        # The current-password check is a password guess like a login: same counters, same lockout.
        check_not_locked(guard, user.username, meta)
        ok, _ = passwords.verify(data.current_password, user.password_hash)
        if not ok:
            guard.failed(user.username_normalized, meta["client_ip"])
            audit.record(
                session,
                action="user.password_change.failed",
                actor_id=user.id,
                target=f"user:{user.id}",
                detail={"reason": "bad_current_password"},
                **meta,
            )
            raise AuthRejected(Forbidden("The current password is incorrect"))
        check_policy(data.password, username=user.username, settings=settings)
        user.password_hash = passwords.hash(data.password)
        # Other sign-ins end: whoever knew the old password keeps no refresh token. This one stays signed in.
        repository.revoke_user_families(session, user.id, utcnow(), keep_family=current_family)
        changed.append("password")
    if data.email is not None and data.email != user.email:
        user.email = data.email
        changed.append("email")
    if changed:
        user.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            action="user.updated",
            actor_id=user.id,
            target=f"user:{user.id}",
            detail={"fields": changed},
            **meta,
        )
    return user


def list_users(session: Session, page: PageParams, *, role: Role | None, active: bool | None) -> UserPage:
    users, total = repository.list_users(
        session, offset=page.offset, limit=page.size, role=role.value if role else None, active=active
    )
    return UserPage.build([UserRead.model_validate(u) for u in users], total, page)


def get_user(session: Session, user_id: int) -> User:
    user = repository.get_user(session, user_id)
    if user is None:
        raise NotFound(f"User {user_id} not found")
    return user


def _ensure_not_last_admin(session: Session, target: User, action: str) -> None:
    """The one invariant of admin management: at least one active admin remains. Anyone may demote, deactivate
    or delete any admin, themselves included, as long as another active admin is left."""
    if not (target.is_admin and target.is_active):
        return
    admin_ids = repository.lock_active_admin_ids(session)
    if admin_ids == [target.id]:
        raise Conflict(f"Cannot {action} the last active admin; make another user admin first")


def admin_update_user(session: Session, actor: User, user_id: int, data: UserAdminUpdate, *, meta: RequestMeta) -> User:
    target = get_user(session, user_id)
    now = utcnow()
    if data.role is not None and data.role.value != target.role:
        if data.role is Role.user:
            _ensure_not_last_admin(session, target, "demote")
        previous, target.role = target.role, data.role.value
        audit.record(
            session,
            action="user.role_changed",
            actor_id=actor.id,
            target=f"user:{target.id}",
            detail={"from": previous, "to": target.role},
            **meta,
        )
    if data.is_active is not None and data.is_active != target.is_active:
        if not data.is_active:
            _ensure_not_last_admin(session, target, "deactivate")
            # Access tokens stop at once (checked per request); refresh tokens are revoked too.
            repository.revoke_user_families(session, target.id, now)
        target.is_active = data.is_active
        audit.record(
            session,
            action="user.activated" if data.is_active else "user.deactivated",
            actor_id=actor.id,
            target=f"user:{target.id}",
            **meta,
        )
    target.updated_at = now
    session.flush()
    return target


def admin_delete_user(session: Session, actor: User, user_id: int, *, meta: RequestMeta) -> None:
    target = get_user(session, user_id)
    _ensure_not_last_admin(session, target, "delete")
    detail = {"username": target.username, "role": target.role}
    repository.delete_user(session, target)
    audit.record(session, action="user.deleted", actor_id=actor.id, target=f"user:{user_id}", detail=detail, **meta)


def ensure_first_admin(session: Session, settings: Settings, passwords: Passwords | None = None) -> User | None:
    """Create the admin named by ``VITRINE_ADMIN_USERNAME`` / ``VITRINE_ADMIN_PASSWORD`` when no admin exists.

    An existing account with that name is never promoted: someone could have signed up with it first.
    """
    if not settings.admin_username or settings.admin_password is None:
        return None
    if repository.any_admin(session):
        return None
    if repository.username_taken(session, settings.admin_username):
        logger.error(
            "VITRINE_ADMIN_USERNAME names an existing non-admin account; not promoting it. "
            "Create an admin with `vitrine users create --role admin`."
        )
        return None
    user = create_user(
        session,
        settings,
        passwords or passwords_for(settings),
        username=settings.admin_username,
        email=settings.admin_email or f"{normalize_username(settings.admin_username)}@localhost",
        password=settings.admin_password.get_secret_value(),
        role=Role.admin,
        source="environment",
    )
    logger.info("created the first admin user_id=%s from the environment", user.id)
    return user


def list_audit(session: Session, page: PageParams, *, actor_id: int | None, action: str | None) -> AuditPage:
    events, total = repository.list_audit_events(
        session, offset=page.offset, limit=page.size, actor_id=actor_id, action=action
    )
    return AuditPage.build([AuditEventRead.model_validate(e) for e in events], total, page)


def purge_expired_refresh_tokens(session: Session) -> int:
    """Delete refresh-token rows past their expiry (they can no longer be used, nor reused). For a cleanup job."""
    return repository.purge_expired_refresh_tokens(session, utcnow())
