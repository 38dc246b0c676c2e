"""Who is calling: ``CurrentUser``, ``AdminUser`` and ``OptionalUser`` dependencies for every router.

The bearer token is verified (signature, algorithm, issuer, audience, expiry, ``typ=access``) and the user is
loaded with one primary-key lookup on every request, so deactivation and role changes take effect at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from vitrine.auth.tokens import InvalidToken, TokenClaims, TokenType, decode
from vitrine.deps import SessionDep
from vitrine.errors import Forbidden, Unauthorized
from vitrine.models.user import User

TOKEN_URL = "/api/v1/auth/login"

# auto_error=False: we answer missing credentials ourselves, in the project's error shape.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)

BearerToken = Annotated[str | None, Depends(oauth2_scheme)]


def access_claims(request: Request, token: BearerToken) -> TokenClaims | None:
    """The verified claims of the request's access token, ``None`` without one; 401 for a bad one."""
    if not token:
        return None
    try:
        claims = decode(request.app.state.settings, token, expected=TokenType.access)
    except InvalidToken:
        raise Unauthorized("Invalid or expired token") from None
    request.state.token_claims = claims
    return claims


AccessClaims = Annotated[TokenClaims | None, Depends(access_claims)]


def optional_user(session: SessionDep, claims: AccessClaims) -> User | None:
    if claims is None:
        return None
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Invalid or expired token")
    return user


def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise Unauthorized("Not authenticated")
    return user


def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.is_admin:
        raise Forbidden("Administrator role required")
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]

__all__ = ["AdminUser", "CurrentUser", "OptionalUser", "admin_user", "current_user", "optional_user"]
