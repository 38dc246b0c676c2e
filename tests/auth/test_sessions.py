"""Refresh-token rotation, reuse detection, families, logout, deactivation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.auth.conftest import Api, bearer

from vitrine.auth.sessions import issue_token_pair
from vitrine.auth.tokens import TokenType, digest, issue
from vitrine.config import Settings
from vitrine.kit.clock import utcnow
from vitrine.models.audit_event import AuditEvent
from vitrine.models.refresh_token import RefreshToken
from vitrine.models.user import User

ME = "/api/v1/users/me"


def test_refresh_rotates_and_each_token_is_single_use(api: Api, make_user: Callable[..., User]) -> None:
    make_user("alice")
    first = api.tokens_for("alice")
    second = api.refresh(first["refresh_token"])
    assert second.status_code == 200
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert api.client.get(ME, headers=bearer(pair["access_token"])).status_code == 200
    third = api.refresh(pair["refresh_token"])
    assert third.status_code == 200
    assert third.headers["cache-control"] == "no-store"


def test_refresh_tokens_are_stored_hashed(api: Api, make_user: Callable[..., User], session: Session) -> None:
    user = make_user("bob")
    tokens = api.tokens_for("bob")
    rows = session.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id)).all()
    assert [r.token_hash for r in rows] == [digest(tokens["refresh_token"])]
    assert tokens["refresh_token"] not in repr([(r.token_hash, r.family_id) for r in rows])


def test_reuse_revokes_the_whole_family_but_not_the_users_other_family(
    api: Api, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user("carol")
    laptop = api.tokens_for("carol")
    phone = api.tokens_for("carol")
    rotated = api.refresh(laptop["refresh_token"]).json()
    # Someone replays the laptop's first refresh token (stolen): reuse.
    reuse = api.refresh(laptop["refresh_token"])
    assert reuse.status_code == 401
    assert reuse.headers["www-authenticate"] == "Bearer"
    # Every token descended from that login is dead, including the legitimate latest one...
    assert api.refresh(rotated["refresh_token"]).status_code == 401
    # ...while the phone's sign-in goes on.
    assert api.refresh(phone["refresh_token"]).status_code == 200
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.refresh.reuse_detected")).all()
    assert [e.actor_id for e in events] == [user.id]


def test_access_token_is_refused_as_refresh_token(api: Api, make_user: Callable[..., User]) -> None:
    make_user("dave")
    tokens = api.tokens_for("dave")
    response = api.refresh(tokens["access_token"])
    assert response.status_code == 401
    # and the refresh token still works afterwards: a bad attempt does not count as a use
    assert api.refresh(tokens["refresh_token"]).status_code == 200


def test_refresh_token_is_refused_as_access_token(api: Api, make_user: Callable[..., User]) -> None:
    make_user("erin")
    tokens = api.tokens_for("erin")
    response = api.client.get(ME, headers=bearer(tokens["refresh_token"]))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_expired_tokens_are_refused(
    client: TestClient, make_user: Callable[..., User], session: Session, settings: Settings
) -> None:
    user = make_user("frank")
    long_ago = utcnow() - timedelta(days=8)
    old = issue_token_pair(session, settings, user, now=long_ago)
    session.commit()
    assert client.get(ME, headers=bearer(old.access_token)).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": old.refresh_token}).status_code == 401
    recent = issue(settings, user_id=user.id, typ=TokenType.access, family_id="f", now=utcnow() - timedelta(minutes=16))
    assert client.get(ME, headers=bearer(recent.token)).status_code == 401


def test_signed_refresh_token_unknown_to_the_database_is_refused(
    client: TestClient, make_user: Callable[..., User], settings: Settings
) -> None:
    user = make_user("grace")
    token = issue(settings, user_id=user.id, typ=TokenType.refresh, family_id="f" * 32).token
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": token}).status_code == 401


def test_logout_revokes_the_current_family_only(api: Api, make_user: Callable[..., User]) -> None:
    make_user("heidi")
    laptop = api.tokens_for("heidi")
    phone = api.tokens_for("heidi")
    response = api.client.post(
        "/api/v1/auth/logout", json={"refresh_token": laptop["refresh_token"]}, headers=bearer(laptop["access_token"])
    )
    assert response.status_code == 204
    assert api.refresh(laptop["refresh_token"]).status_code == 401
    assert api.refresh(phone["refresh_token"]).status_code == 200


def test_logout_with_only_the_access_token_revokes_its_family(api: Api, make_user: Callable[..., User]) -> None:
    make_user("ivan")
    tokens = api.tokens_for("ivan")
    rotated = api.refresh(tokens["refresh_token"]).json()
    assert api.client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    assert api.refresh(rotated["refresh_token"]).status_code == 401


def test_logout_with_only_the_refresh_token(api: Api, make_user: Callable[..., User]) -> None:
    make_user("judy")
    tokens = api.tokens_for("judy")
    assert api.client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}).status_code == 204
    assert api.refresh(tokens["refresh_token"]).status_code == 401


def test_logout_needs_some_token(client: TestClient) -> None:
    response = client.post("/api/v1/auth/logout")
    assert response.status_code == 401
    assert client.post("/api/v1/auth/logout", json={"refresh_token": "garbage"}).status_code == 401


def test_logout_cannot_revoke_another_users_family(api: Api, make_user: Callable[..., User]) -> None:
    make_user("kate")
    make_user("leo")
    kate, leo = api.tokens_for("kate"), api.tokens_for("leo")
    response = api.client.post(
        "/api/v1/auth/logout", json={"refresh_token": leo["refresh_token"]}, headers=bearer(kate["access_token"])
    )
    assert response.status_code == 401
    assert api.refresh(leo["refresh_token"]).status_code == 200


def test_deactivated_users_tokens_stop_working_at_once(
    api: Api, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user("mallory")
    tokens = api.tokens_for("mallory")
    assert api.client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200
    user.is_active = False
    session.commit()
    assert api.client.get(ME, headers=bearer(tokens["access_token"])).status_code == 401
    assert api.refresh(tokens["refresh_token"]).status_code == 401


def test_deleted_users_tokens_stop_working(api: Api, make_user: Callable[..., User], session: Session) -> None:
    user = make_user("nina")
    tokens = api.tokens_for("nina")
    session.delete(user)
    session.commit()
    assert api.client.get(ME, headers=bearer(tokens["access_token"])).status_code == 401
    assert api.refresh(tokens["refresh_token"]).status_code == 401


def test_expired_refresh_token_rows_are_purged(
    api: Api, make_user: Callable[..., User], session: Session, settings: Settings
) -> None:
    from vitrine.auth.service import purge_expired_refresh_tokens

    user = make_user("olivia")
    issue_token_pair(session, settings, user, now=utcnow() - timedelta(days=8))
    live = api.tokens_for("olivia")
    assert purge_expired_refresh_tokens(session) == 1
    session.commit()
    assert len(session.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id)).all()) == 1
    assert api.refresh(live["refresh_token"]).status_code == 200
