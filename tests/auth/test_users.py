"""Sign-up, password policy, the profile, and role-escalation attempts by plain users."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.auth.conftest import PASSWORD, Api, bearer

from vitrine.models.audit_event import AuditEvent
from vitrine.models.user import User

USERS = "/api/v1/users"
ME = "/api/v1/users/me"


def _signup(client: TestClient, **fields: Any) -> Any:
    body = {"username": "newbie", "email": "newbie@example.com", "password": PASSWORD, **fields}
    return client.post(USERS, json=body)


def test_signup_creates_a_plain_user_who_can_sign_in(client: TestClient, api: Api) -> None:
    response = _signup(client)
    assert response.status_code == 201
    body = response.json()
    assert (body["username"], body["role"], body["is_active"]) == ("newbie", "user", True)
    assert "password" not in response.text and "hash" not in response.text
    assert api.login("newbie").status_code == 200


def test_role_in_the_signup_body_is_never_honoured(client: TestClient, session: Session) -> None:
    response = _signup(client, role="admin", is_active=True, id=1)
    assert response.status_code == 201
    assert response.json()["role"] == "user"
    user = session.scalars(select(User).where(User.username_normalized == "newbie")).one()
    assert user.role == "user"


def test_usernames_are_unique_ignoring_case(client: TestClient) -> None:
    assert _signup(client, username="Zoe").status_code == 201
    duplicate = _signup(client, username="zOE", email="other@example.com")
    assert duplicate.status_code == 409
    assert duplicate.json()["error"] == "Conflict"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": "short"}, "at least 10 characters"),
        ({"password": "my-newbie-password"}, "must not contain the username"),
        ({"password": "xx-NEWBIE-xx-yy"}, "must not contain the username"),
        ({"password": " " * 12}, "only whitespace"),
    ],
)
def test_password_policy_gives_clear_422s(client: TestClient, fields: dict[str, str], message: str) -> None:
    response = _signup(client, **fields)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationError"
    assert any(message in item["msg"] and item["loc"] == ["body", "password"] for item in body["detail"]), body
    assert fields["password"] not in response.text


def test_min_password_length_follows_the_settings(app: FastAPI, client: TestClient) -> None:
    app.state.settings.auth.min_password_length = 20
    assert _signup(client, password="fifteen-chars-x").status_code == 422
    assert _signup(client, password="a-twenty-char-password").status_code == 201


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "ab"},
        {"username": "has space"},
        {"username": "x" * 65},
        {"username": "-dash-first"},
        {"username": "émile"},
        {"email": "not-an-email"},
        {"email": "a@b"},
        {"email": "two@@example.com"},
        {"email": ""},
        {"username": None},
        {"password": None},
        {"password": "x" * 1025},
    ],
)
def test_bad_signup_fields_are_422(client: TestClient, fields: dict[str, Any]) -> None:
    assert _signup(client, **fields).status_code == 422


def test_closed_signup_is_403_for_anonymous_but_an_admin_can_still_create_users(
    app: FastAPI, client: TestClient, api: Api, admin: User
) -> None:
    app.state.settings.auth.open_signup = False
    response = _signup(client)
    assert response.status_code == 403
    created = client.post(
        USERS,
        json={"username": "hired", "email": "hired@example.com", "password": PASSWORD, "role": "admin"},
        headers=api.headers("root"),
    )
    assert created.status_code == 201
    assert created.json()["role"] == "user"


def test_me_requires_a_token(client: TestClient) -> None:
    response = client.get(ME)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_update_own_email(api: Api, make_user: Callable[..., User]) -> None:
    make_user("olga")
    headers = api.headers("olga")
    response = api.client.patch(ME, json={"email": "olga@new.example.org"}, headers=headers)
    assert response.status_code == 200
    assert response.json()["email"] == "olga@new.example.org"
    assert api.client.patch(ME, json={"email": "nope"}, headers=headers).status_code == 422


def test_user_cannot_change_own_role_or_active_flag(api: Api, make_user: Callable[..., User], session: Session) -> None:
    user = make_user("peggy")
    headers = api.headers("peggy")
    assert api.client.patch(ME, json={"role": "admin"}, headers=headers).status_code == 422
    assert api.client.patch(ME, json={"is_active": True, "email": "p@example.com"}, headers=headers).status_code == 422
    assert api.client.patch(f"{USERS}/{user.id}", json={"role": "admin"}, headers=headers).status_code == 403
    session.refresh(user)
    assert user.role == "user"
    assert api.client.get(ME, headers=headers).json()["role"] == "user"


def test_password_change_needs_the_current_password(api: Api, make_user: Callable[..., User]) -> None:
    make_user("quinn")
    headers = api.headers("quinn")
    missing = api.client.patch(ME, json={"password": "a-brand-new-password"}, headers=headers)
    assert missing.status_code == 422
    wrong = api.client.patch(
        ME, json={"password": "a-brand-new-password", "current_password": "not-the-password"}, headers=headers
    )
    assert wrong.status_code == 403
    assert api.login("quinn", "a-brand-new-password").status_code == 401
    weak = api.client.patch(ME, json={"password": "short", "current_password": PASSWORD}, headers=headers)
    assert weak.status_code == 422


def test_password_change_ends_other_sign_ins_and_keeps_this_one(
    api: Api, make_user: Callable[..., User], session: Session
) -> None:
    make_user("rita")
    here, elsewhere = api.tokens_for("rita"), api.tokens_for("rita")
    response = api.client.patch(
        ME,
        json={"password": "a-brand-new-password", "current_password": PASSWORD},
        headers=bearer(here["access_token"]),
    )
    assert response.status_code == 200
    assert api.login("rita").status_code == 401
    assert api.login("rita", "a-brand-new-password").status_code == 200
    assert api.refresh(elsewhere["refresh_token"]).status_code == 401
    assert api.refresh(here["refresh_token"]).status_code == 200
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.action == "user.updated")).all()
    assert actions == ["user.updated"]


def test_wrong_current_password_counts_towards_the_lockout(
    api: Api, make_user: Callable[..., User], session: Session
) -> None:
    make_user("sam")
    headers = api.headers("sam")
    body = {"password": "a-brand-new-password", "current_password": "guess-guess-guess"}
    codes = [api.client.patch(ME, json=body, headers=headers).status_code for _ in range(6)]
    assert codes == [403] * 5 + [429]
    failures = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.password_change.failed")).all()
    assert len(failures) == 5
