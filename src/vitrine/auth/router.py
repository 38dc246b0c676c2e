"""Accounts API: sign-up, sign-in (OAuth2 password form or JSON), refresh, sign-out, profile, user management."""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from vitrine.auth import service, sessions
from vitrine.auth.audit import request_meta
from vitrine.auth.deps import AccessClaims, AdminUser, CurrentUser, OptionalUser
from vitrine.auth.guard import LoginGuard
from vitrine.auth.passwords import Passwords, passwords_for
from vitrine.auth.schemas import (
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    TokenPair,
    UserAdminUpdate,
    UserCreate,
    UserPage,
    UserRead,
    UserSelfUpdate,
)
from vitrine.auth.sessions import AuthRejected
from vitrine.deps import SessionDep, SettingsDep
from vitrine.errors import Unprocessable, error_responses
from vitrine.kit.pagination import PageDep
from vitrine.models.user import Role

router = APIRouter()
auth = APIRouter(prefix="/auth", tags=["auth"])
users = APIRouter(prefix="/users", tags=["users"])

UserId = Annotated[int, Path(ge=1, le=2_147_483_647)]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1: token responses are not cached


def get_passwords(request: Request) -> Passwords:
    passwords: Passwords | None = getattr(request.app.state, "passwords", None)
    if passwords is None:
        passwords = request.app.state.passwords = passwords_for(request.app.state.settings)
    return passwords


def get_login_guard(request: Request) -> LoginGuard:
    guard: LoginGuard | None = getattr(request.app.state, "login_guard", None)
    if guard is None:
        guard = request.app.state.login_guard = LoginGuard.from_settings(request.app.state.settings)
    return guard


PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
GuardDep = Annotated[LoginGuard, Depends(get_login_guard)]


def _commit_and_raise(session: Session, exc: AuthRejected) -> NoReturn:
    """The refusal's audit rows and revocations must survive the error answer (the session would roll back)."""
    session.commit()
    raise exc.error from None


async def login_credentials(request: Request) -> LoginRequest:
    """Read the credentials from an OAuth2 password form (what /docs "Authorize" sends) or a JSON body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: Any
    if content_type == "application/json":
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise Unprocessable([{"loc": ["body"], "msg": "Body is not valid JSON", "type": "json_invalid"}]) from None
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form(max_files=0, max_fields=16)
        grant_type = form.get("grant_type")
        if grant_type is not None and grant_type != "password":
            raise Unprocessable(
                [{"loc": ["body", "grant_type"], "msg": "Only the 'password' grant is supported", "type": "grant"}]
            )
        data = {key: value for key, value in form.items() if isinstance(value, str)}
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "Send username and password as application/x-www-form-urlencoded or application/json",
        )
    try:
        return LoginRequest.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise Unprocessable(errors) from None


_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["password"]},
                        "username": {"type": "string", "minLength": 1, "maxLength": 320},
                        "password": {"type": "string", "format": "password", "minLength": 1, "maxLength": 1024},
                    },
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/LoginRequest"}},
        },
    }
}


@auth.post(
    "/login",
    response_model=TokenPair,
    openapi_extra=_LOGIN_BODY,
    responses=error_responses(401, 415, 422, 429),
    summary="Sign in with username and password",
)
def login(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    passwords: PasswordsDep,
    guard: GuardDep,
    credentials: Annotated[LoginRequest, Depends(login_credentials)],
) -> TokenPair:
    response.headers.update(NO_STORE)
    try:
        return sessions.login(
            session,
            settings,
            passwords,
            guard,
            username=credentials.username,
            password=credentials.password,
            meta=request_meta(request),
        )
    except AuthRejected as exc:
        _commit_and_raise(session, exc)


@auth.post("/refresh", response_model=TokenPair, responses=error_responses(401, 422), summary="Rotate tokens")
def refresh(
    request: Request, response: Response, session: SessionDep, settings: SettingsDep, body: RefreshRequest
) -> TokenPair:
    response.headers.update(NO_STORE)
    try:
        return sessions.refresh(session, settings, refresh_token=body.refresh_token, meta=request_meta(request))
    except AuthRejected as exc:
        _commit_and_raise(session, exc)


@auth.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 422),
    summary="Sign out: revoke this sign-in's refresh tokens",
)
def logout(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    claims: AccessClaims,
    _user: OptionalUser,
    body: LogoutRequest | None = None,
) -> Response:
    sessions.logout(
        session,
        settings,
        refresh_token=body.refresh_token if body else None,
        access_claims=claims,
        meta=request_meta(request),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users.post(
    "",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409, 422, 429),
    summary="Sign up (always as a plain user)",
)
def signup(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    passwords: PasswordsDep,
    guard: GuardDep,
    caller: OptionalUser,
    body: UserCreate,
) -> UserRead:
    user = service.signup(session, settings, passwords, body, caller=caller, guard=guard, meta=request_meta(request))
    return UserRead.model_validate(user)


@users.get("/me", response_model=UserRead, responses=error_responses(401))
def read_me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@users.patch("/me", response_model=UserRead, responses=error_responses(401, 403, 422, 429))
def update_me(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    passwords: PasswordsDep,
    guard: GuardDep,
    user: CurrentUser,
    claims: AccessClaims,
    body: UserSelfUpdate,
) -> UserRead:
    try:
        updated = service.update_me(
            session,
            settings,
            passwords,
            guard,
            user,
            body,
            current_family=claims.family_id if claims else None,
            meta=request_meta(request),
        )
    except AuthRejected as exc:
        _commit_and_raise(session, exc)
    return UserRead.model_validate(updated)


@users.get("", response_model=UserPage, responses=error_responses(401, 403, 422), summary="List users (admin)")
def list_users(
    session: SessionDep,
    _admin: AdminUser,
    page: PageDep,
    role: Role | None = None,
    active: bool | None = None,
) -> UserPage:
    return service.list_users(session, page, role=role, active=active)


@users.get("/{user_id}", response_model=UserRead, responses=error_responses(401, 403, 404, 422))
def read_user(session: SessionDep, _admin: AdminUser, user_id: UserId) -> UserRead:
    return UserRead.model_validate(service.get_user(session, user_id))


@users.patch(
    "/{user_id}",
    response_model=UserRead,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Change a user's role or active flag (admin)",
)
def update_user(
    request: Request, session: SessionDep, admin: AdminUser, user_id: UserId, body: UserAdminUpdate
) -> UserRead:
    user = service.admin_update_user(session, admin, user_id, body, meta=request_meta(request))
    return UserRead.model_validate(user)


@users.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Delete a user (admin)",
)
def delete_user(request: Request, session: SessionDep, admin: AdminUser, user_id: UserId) -> Response:
    service.admin_delete_user(session, admin, user_id, meta=request_meta(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


router.include_router(auth)
router.include_router(users)
