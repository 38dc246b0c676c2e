"""Sign-in sessions: login, refresh-token rotation with reuse detection, logout.

A login starts a *family*. Each refresh uses up the presented refresh token and issues the next one in the same
family. Presenting a token that was already used means two parties hold tokens of this family (one of them stole
it), so the whole family is revoked and both must sign in again; the user's other families are left alone.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy.orm import Session

from vitrine.auth import audit, repository
from vitrine.auth.audit import RequestMeta
from vitrine.auth.guard import LoginGuard
from vitrine.auth.passwords import Passwords
from vitrine.auth.schemas import USERNAME_PATTERN, TokenPair
from vitrine.auth.tokens import InvalidToken, TokenClaims, TokenType, decode, digest, issue, new_family_id
from vitrine.config import Settings
from vitrine.errors import AppError, RateLimited, Unauthorized
from vitrine.kit.clock import utcnow
from vitrine.kit.ratelimit import retry_after_header
from vitrine.models.user import User, normalize_username

logger = logging.getLogger(__name__)

BAD_CREDENTIALS = "Incorrect username or password"
BAD_REFRESH = "Invalid or expired refresh token"
_USERNAME_SHAPE = re.compile(USERNAME_PATTERN)


class AuthRejected(Exception):
    """A refusal whose side effects (audit rows, revocations) must be committed before answering with ``error``."""

    def __init__(self, error: AppError) -> None:
        super().__init__(error.detail)
        self.error = error


def issue_token_pair(
    session: Session, settings: Settings, user: User, *, family_id: str | None = None, now: datetime | None = None
) -> TokenPair:
    now = now or utcnow()
    family_id = family_id or new_family_id()
    access = issue(settings, user_id=user.id, typ=TokenType.access, family_id=family_id, now=now)
    refresh = issue(settings, user_id=user.id, typ=TokenType.refresh, family_id=family_id, now=now)
    repository.add_refresh_token(
        session,
        user_id=user.id,
        family_id=family_id,
        token_hash=digest(refresh.token),
        expires_at=refresh.claims.expires_at,
    )
    return TokenPair(
        access_token=access.token,
        refresh_token=refresh.token,
        expires_in=int((access.claims.expires_at - access.claims.issued_at).total_seconds()),
        refresh_expires_in=int((refresh.claims.expires_at - refresh.claims.issued_at).total_seconds()),
    )


def _too_many(wait: float) -> RateLimited:
    seconds = retry_after_header(wait)
    return RateLimited(
        f"Too many failed sign-in attempts; try again in {seconds} seconds", headers={"Retry-After": seconds}
    )


def check_not_locked(guard: LoginGuard, username: str, meta: RequestMeta) -> None:
    wait = guard.retry_after(normalize_username(username), meta["client_ip"])
    if wait > 0:
        raise _too_many(wait)


def login(
    session: Session,
    settings: Settings,
    passwords: Passwords,
    guard: LoginGuard,
    *,
    username: str,
    password: str,
    meta: RequestMeta,
) -> TokenPair:
    """Verify the credentials and start a new family; raises ``RateLimited`` or ``AuthRejected``."""
    key = normalize_username(username)
    check_not_locked(guard, username, meta)
    user = repository.get_user_by_username(session, username)
    if user is None:
        passwords.verify_unknown(password)  # same cost as a real check: timing does not reveal unknown users
        ok, new_hash, reason = False, None, "unknown_user"
    else:
        ok, new_hash = passwords.verify(password, user.password_hash)
        reason = "bad_password" if not ok else ""
        if ok and not user.is_active:
            ok, reason = False, "inactive"
    if user is None or not ok:
        locked_for = guard.failed(key, meta["client_ip"])
        detail: dict[str, object] = {"reason": reason}
        if locked_for:
            detail["locked_for_seconds"] = locked_for
        audit.record(
            session,
            action="auth.login.failed",
            actor_id=user.id if user else None,
            # the attempted name only when it looks like a username (never a password typed in the wrong box)
            target=f"username:{key}" if _USERNAME_SHAPE.fullmatch(key) else None,
            detail=detail,
            **meta,
        )
        logger.info("login failed (%s) user_id=%s", reason, user.id if user else None)
        raise AuthRejected(Unauthorized(BAD_CREDENTIALS))
    guard.succeeded(key)
    if new_hash is not None:  # stored with older Argon2 parameters: upgrade it now that we know the password
        user.password_hash = new_hash
    pair = issue_token_pair(session, settings, user)
    audit.record(session, action="auth.login.succeeded", actor_id=user.id, target=f"user:{user.id}", **meta)
    logger.info("login succeeded user_id=%s", user.id)
    return pair


def refresh(session: Session, settings: Settings, *, refresh_token: str, meta: RequestMeta) -> TokenPair:
    """Rotate: use up ``refresh_token`` and return the next pair of its family."""
    try:
        claims = decode(settings, refresh_token, expected=TokenType.refresh)
    except InvalidToken:
        raise Unauthorized(BAD_REFRESH) from None
    now = utcnow()
    token_hash = digest(refresh_token)
    if repository.consume_refresh_token(session, token_hash, now):
        user = repository.get_user(session, claims.user_id)
        if user is None or not user.is_active:
            repository.revoke_family(session, claims.family_id, now)
            raise AuthRejected(Unauthorized(BAD_REFRESH))
        return issue_token_pair(session, settings, user, family_id=claims.family_id, now=now)
    row = repository.get_refresh_token(session, token_hash)
    if row is None:
        raise Unauthorized(BAD_REFRESH)
    if row.used_at is not None:
        revoked = repository.revoke_family(session, row.family_id, now)
        audit.record(
            session,
            action="auth.refresh.reuse_detected",
            actor_id=row.user_id,
            target=f"user:{row.user_id}",
            detail={"family": row.family_id, "revoked_tokens": revoked},
            **meta,
        )
        logger.warning("refresh token reuse detected user_id=%s; family revoked", row.user_id)
        raise AuthRejected(Unauthorized("Refresh token already used; every session of this sign-in was revoked"))
    raise Unauthorized(BAD_REFRESH)  # revoked (logout, deactivation) or expired


def logout(
    session: Session,
    settings: Settings,
    *,
    refresh_token: str | None,
    access_claims: TokenClaims | None,
    meta: RequestMeta,
) -> None:
    """Revoke the family of the presented refresh token, or else of the access token; 401 with neither."""
    if refresh_token:
        try:
            claims = decode(settings, refresh_token, expected=TokenType.refresh)
        except InvalidToken:
            raise Unauthorized(BAD_REFRESH) from None
        if access_claims is not None and access_claims.user_id != claims.user_id:
            raise Unauthorized("The refresh token belongs to another user")
    elif access_claims is not None:
        claims = access_claims
    else:
        raise Unauthorized("Send the refresh token or an access token to sign out")
    revoked = repository.revoke_family(session, claims.family_id, utcnow())
    audit.record(
        session,
        action="auth.logout",
        actor_id=claims.user_id,
        target=f"user:{claims.user_id}",
        detail={"family": claims.family_id, "revoked_tokens": revoked},
        **meta,
    )
