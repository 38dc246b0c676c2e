"""JWT access and refresh tokens: one algorithm, every registered claim checked, a ``typ`` claim per kind.

Refresh tokens are JWTs too (so a client can read their expiry), but the server also keeps their SHA-256 digest:
a refresh token is only honoured while its stored row says it is unused and unrevoked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt

from vitrine.config import Settings
from vitrine.kit.clock import utcnow

ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 4096
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "jti", "typ")


class TokenType(StrEnum):
    access = "access"
    refresh = "refresh"


class InvalidToken(Exception):
    """The token is malformed, forged, expired, of the wrong kind or for another issuer/audience."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    typ: TokenType
    jti: str
    family_id: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    claims: TokenClaims


def lifetime(settings: Settings, typ: TokenType) -> timedelta:
    if typ is TokenType.access:
        return timedelta(minutes=settings.auth.access_token_minutes)
    return timedelta(days=settings.auth.refresh_token_days)


def new_family_id() -> str:
    return secrets.token_hex(16)


def digest(token: str) -> str:
    """What the database keeps of a refresh token (the token has 128+ random bits, so a plain hash suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    settings: Settings, *, user_id: int, typ: TokenType, family_id: str, now: datetime | None = None
) -> IssuedToken:
    issued_at = (now or utcnow()).replace(microsecond=0)
    expires_at = issued_at + lifetime(settings, typ)
    jti = secrets.token_urlsafe(24)
    payload: dict[str, Any] = {
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "sub": str(user_id),
        "typ": typ.value,
        "jti": jti,
        "fam": family_id,
        "iat": issued_at,
        "exp": expires_at,
    }
    token = jwt.encode(payload, settings.secret_key.get_secret_value(), algorithm=ALGORITHM)
    claims = TokenClaims(user_id, typ, jti, family_id, issued_at, expires_at)
    return IssuedToken(token, claims)


def decode(settings: Settings, token: str, *, expected: TokenType) -> TokenClaims:
    """Verify ``token`` and return its claims, or raise ``InvalidToken`` (never anything else)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed token")
    try:
        payload = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[ALGORITHM],  # a single algorithm: no "none", no RS/HS confusion
            audience=settings.auth.audience,
            issuer=settings.auth.issuer,
            options={"require": list(REQUIRED_CLAIMS), "verify_signature": True},
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken(type(exc).__name__) from None
    if payload.get("typ") != expected.value:
        raise InvalidToken("wrong token type")
    sub, jti, fam = payload.get("sub"), payload.get("jti"), payload.get("fam")
    if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit() or len(sub) > 12:
        raise InvalidToken("bad subject")
    if not isinstance(jti, str) or not isinstance(fam, str) or not jti or not fam or len(fam) > 64:
        raise InvalidToken("bad token id")
    iat, exp = payload["iat"], payload["exp"]
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise InvalidToken("bad timestamps")
    return TokenClaims(
        user_id=int(sub),
        typ=expected,
        jti=jti,
        family_id=fam,
        issued_at=datetime.fromtimestamp(iat, tz=UTC),
        expires_at=datetime.fromtimestamp(exp, tz=UTC),
    )
