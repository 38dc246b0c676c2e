"""Sign-in: both body formats, one answer for every bad credential, timing, inactive accounts."""

from __future__ import annotations

from collections.abc import Callable

import jwt
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.auth.conftest import PASSWORD, Api, bearer

from vitrine.auth.passwords import Argon2Params, Passwords
from vitrine.config import Settings
from vitrine.models.audit_event import AuditEvent
from vitrine.models.user import User

LOGIN = "/api/v1/auth/login"


def test_login_with_json_returns_a_token_pair(api: Api, make_user: Callable[..., User], settings: Settings) -> None:
    make_user("alice")
    response = api.login("alice")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert body["refresh_expires_in"] == 7 * 24 * 3600
    assert response.headers["cache-control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["typ"] == "access"
    assert api.client.get("/api/v1/users/me", headers=bearer(body["access_token"])).json()["username"] == "alice"


def test_login_with_the_oauth2_password_form(client: TestClient, make_user: Callable[..., User]) -> None:
    make_user("bob")
    form = {"grant_type": "password", "username": "bob", "password": PASSWORD, "scope": ""}
    response = client.post(LOGIN, data=form)
    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"]


def test_login_form_with_another_grant_type_is_refused(client: TestClient, make_user: Callable[..., User]) -> None:
    make_user("bob")
    response = client.post(LOGIN, data={"grant_type": "client_credentials", "username": "bob", "password": PASSWORD})
    assert response.status_code == 422


def test_username_is_case_insensitive_and_keeps_its_display_form(api: Api, make_user: Callable[..., User]) -> None:
    make_user("Carol")
    tokens = api.tokens_for("CAROL")
    assert api.client.get("/api/v1/users/me", headers=bearer(tokens["access_token"])).json()["username"] == "Carol"


def test_wrong_password_unknown_user_and_inactive_user_get_the_same_401(
    api: Api, make_user: Callable[..., User]
) -> None:
    make_user("dave")
    make_user("erin", active=False)
    answers = [api.login("dave", "wrong-password-here"), api.login("nobody", PASSWORD), api.login("erin", PASSWORD)]
    for response in answers:
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert len({r.text for r in answers}) == 1
    assert answers[0].json() == {"error": "Unauthorized", "detail": "Incorrect username or password"}


class CountingPasswords(Passwords):
    def __init__(self, params: Argon2Params) -> None:
        super().__init__(params)
        self.argon2_runs = 0

    def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        self.argon2_runs += 1
        return super().verify(password, password_hash)

    def verify_unknown(self, password: str) -> None:
        self.argon2_runs += 1
        super().verify_unknown(password)


def test_unknown_user_costs_one_argon2_verification_like_a_known_one(
    app: FastAPI, api: Api, make_user: Callable[..., User], settings: Settings
) -> None:
    """Similar time whether the user exists: both paths run exactly one Argon2 verification with equal cost."""
    counting = CountingPasswords(Argon2Params.from_settings(settings))
    app.state.passwords = counting
    make_user("frank")
    api.login("frank", "wrong-password-here")
    assert counting.argon2_runs == 1
    api.login("no-such-user", "wrong-password-here")
    assert counting.argon2_runs == 2
    # the dummy hash is made with the same parameters as real ones
    assert counting._dummy_hash.startswith(f"$argon2id$v=19$m={settings.auth.argon2_memory_kib},")  # type: ignore[attr-defined]


def test_logins_are_audited_without_secrets(api: Api, make_user: Callable[..., User], session: Session) -> None:
    user = make_user("grace")
    api.login("grace", "wrong-password-here")
    api.login("grace")
    api.login("ghost", "whatever-password")
    events = session.scalars(select(AuditEvent).where(AuditEvent.action.like("auth.login.%"))).all()
    summary = [(e.action, e.actor_id, (e.detail or {}).get("reason")) for e in events]
    assert ("auth.login.failed", user.id, "bad_password") in summary
    assert ("auth.login.succeeded", user.id, None) in summary
    assert ("auth.login.failed", None, "unknown_user") in summary
    assert all(e.client_ip == "testclient" for e in events)
    assert "wrong-password-here" not in repr([(e.detail, e.target) for e in events])


def test_outdated_password_hash_is_upgraded_at_login(
    api: Api, make_user: Callable[..., User], session: Session, settings: Settings
) -> None:
    user = make_user("heidi")
    weaker = Passwords(Argon2Params(time_cost=1, memory_cost=512, parallelism=1))
    user.password_hash = weaker.hash(PASSWORD)
    session.commit()
    api.tokens_for("heidi")
    session.refresh(user)
    assert f"m={settings.auth.argon2_memory_kib}," in user.password_hash  # type: ignore[attr-defined]


def test_unsupported_content_type_and_bad_bodies_are_4xx(client: TestClient) -> None:
    assert client.post(LOGIN, content=b"username=a", headers={"content-type": "text/plain"}).status_code == 415
    assert client.post(LOGIN).status_code == 415
    bad_json = client.post(LOGIN, content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 422
    for body in ({}, {"username": "a"}, {"password": "b"}, {"username": "", "password": "x"}, [], "text", 3):
        assert client.post(LOGIN, json=body).status_code == 422, body
    assert client.post(LOGIN, json={"username": "a", "password": "x" * 2000}).status_code == 422
    assert client.post(LOGIN, data={"username": "a"}).status_code == 422
    binary = client.post(LOGIN, content=b"\xff\xfe\x00", headers={"content-type": "application/json"})
    assert binary.status_code == 422


def test_validation_errors_never_echo_the_password(client: TestClient) -> None:
    response = client.post(LOGIN, json={"username": "", "password": "my-secret-password"})
    assert response.status_code == 422
    assert "my-secret-password" not in response.text
