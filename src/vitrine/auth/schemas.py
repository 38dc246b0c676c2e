"""Request and response bodies of the accounts API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from vitrine.kit.pagination import Page
from vitrine.models.user import Role

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$"
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")
# No control characters (PostgreSQL text cannot even hold NUL): for names that reach the database.
PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f]+$"


def _check_email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError("Enter a valid email address, like name@example.com")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=USERNAME_PATTERN),
    Field(description="3-64 characters: letters, digits, '.', '_' or '-'; case-insensitive", examples=["alice"]),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=254),
    AfterValidator(_check_email),
    Field(examples=["alice@example.com"]),
]
# Length and content rules come from the settings and are checked by the service; this only bounds the body.
Password = Annotated[str, Field(min_length=1, max_length=1024, examples=["correct horse battery staple"])]


class UserCreate(BaseModel):
    """Sign-up. Any other field (``role``, ``is_active``...) is ignored: new accounts are always plain users."""

    model_config = ConfigDict(extra="ignore")

    username: Username
    email: Email
    password: Password


class UserSelfUpdate(BaseModel):
    """What a user may change about their own account. Unknown fields (``role``...) are refused with 422."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    password: Password | None = Field(default=None, description="New password (requires current_password)")
    current_password: Password | None = None


class UserAdminUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    is_active: bool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime


UserPage = Page[UserRead]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320, pattern=PRINTABLE_PATTERN)
    ]
    password: Password


class RefreshRequest(BaseModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class LogoutRequest(BaseModel):
    refresh_token: Annotated[str | None, Field(default=None, min_length=1, max_length=4096)] = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires")


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor_id: int | None
    action: str
    target: str | None
    detail: dict[str, Any] | None
    client_ip: str | None
    request_id: str | None


AuditPage = Page[AuditEventRead]


class DeletedCount(BaseModel):
    deleted: int
