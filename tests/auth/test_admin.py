"""Admin-only operations: 401 without a token, 403 for plain users, the last-admin rule, data management, audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.auth.conftest import Api, bearer

from vitrine.config import Settings
from vitrine.models import Book
from vitrine.models.audit_event import AuditEvent
from vitrine.models.user import Role, User

ADMIN_ROUTES = [
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/1"),
    ("PATCH", "/api/v1/users/1"),
    ("DELETE", "/api/v1/users/1"),
    ("DELETE", "/api/v1/admin/books?confirm=true"),
    ("GET", "/api/v1/admin/audit"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_answer_401_without_a_token(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, json={"role": "user"} if method == "PATCH" else None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_answer_403_to_a_plain_user(
    api: Api, make_user: Callable[..., User], method: str, path: str
) -> None:
    make_user("plain")
    headers = api.headers("plain")
    response = api.client.request(method, path, json={"role": "admin"} if method == "PATCH" else None, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"


def test_admin_lists_users_paginated_and_filtered(api: Api, admin: User, make_user: Callable[..., User]) -> None:
    for n in range(5):
        make_user(f"member{n}")
    headers = api.headers("root")
    page = api.client.get("/api/v1/users", params={"size": 2, "page": 2}, headers=headers).json()
    assert (page["total"], page["pages"], len(page["items"])) == (6, 3, 2)
    admins = api.client.get("/api/v1/users", params={"role": "admin"}, headers=headers).json()
    assert [u["username"] for u in admins["items"]] == ["root"]
    assert api.client.get("/api/v1/users", params={"size": 1000}, headers=headers).status_code == 422


def test_admin_changes_role_and_it_is_audited(
    api: Api, admin: User, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user("promoted")
    response = api.client.patch(f"/api/v1/users/{user.id}", json={"role": "admin"}, headers=api.headers("root"))
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    # the new role applies to the user's existing tokens at once
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.role_changed")).one()
    assert (event.actor_id, event.target, event.detail) == (
        admin.id,
        f"user:{user.id}",
        {"from": "user", "to": "admin"},
    )


def test_deactivation_by_an_admin_stops_the_users_tokens(api: Api, admin: User, make_user: Callable[..., User]) -> None:
    user = make_user("leaving")
    tokens = api.tokens_for("leaving")
    response = api.client.patch(f"/api/v1/users/{user.id}", json={"is_active": False}, headers=api.headers("root"))
    assert response.status_code == 200
    assert api.client.get("/api/v1/users/me", headers=bearer(tokens["access_token"])).status_code == 401
    assert api.refresh(tokens["refresh_token"]).status_code == 401
    assert api.login("leaving").status_code == 401
    api.client.patch(f"/api/v1/users/{user.id}", json={"is_active": True}, headers=api.headers("root"))
    assert api.login("leaving").status_code == 200


@pytest.mark.parametrize(
    ("method", "body"), [("PATCH", {"role": "user"}), ("PATCH", {"is_active": False}), ("DELETE", None)]
)
def test_the_last_active_admin_cannot_demote_deactivate_or_delete_themselves(
    api: Api, admin: User, method: str, body: dict[str, Any] | None, session: Session
) -> None:
    response = api.client.request(method, f"/api/v1/users/{admin.id}", json=body, headers=api.headers("root"))
    assert response.status_code == 409
    assert "last active admin" in response.json()["detail"]
    session.refresh(admin)
    assert (admin.role, admin.is_active) == ("admin", True)


def test_an_admin_may_step_down_when_another_active_admin_remains(
    api: Api, admin: User, make_user: Callable[..., User]
) -> None:
    make_user("deputy", role=Role.admin)
    make_user("dormant", role=Role.admin, active=False)
    headers = api.headers("root")
    assert (
        api.client.patch(f"/api/v1/users/{admin.id}", json={"role": "user"}, headers=headers).json()["role"] == "user"
    )
    # the demotion applies at once: the same token is no longer an admin's
    assert api.client.get("/api/v1/users", headers=headers).status_code == 403


def test_admin_deletes_a_user(api: Api, admin: User, make_user: Callable[..., User], session: Session) -> None:
    user = make_user("gone")
    tokens = api.tokens_for("gone")
    headers = api.headers("root")
    assert api.client.delete(f"/api/v1/users/{user.id}", headers=headers).status_code == 204
    assert api.client.get(f"/api/v1/users/{user.id}", headers=headers).status_code == 404
    assert api.client.delete(f"/api/v1/users/{user.id}", headers=headers).status_code == 404
    assert api.client.get("/api/v1/users/me", headers=bearer(tokens["access_token"])).status_code == 401
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.deleted")).one()
    assert event.detail == {"username": "gone", "role": "user"}


def test_admin_update_rejects_unknown_fields(api: Api, admin: User, make_user: Callable[..., User]) -> None:
    user = make_user("target")
    headers = api.headers("root")
    for body in ({"role": "superuser"}, {"password_hash": "x"}, {"username": "y"}):
        assert api.client.patch(f"/api/v1/users/{user.id}", json=body, headers=headers).status_code == 422
    assert api.client.patch("/api/v1/users/0", json={}, headers=headers).status_code == 422


def test_delete_all_books_needs_confirmation(api: Api, admin: User, make_book: Any, session: Session) -> None:
    make_book()
    headers = api.headers("root")
    for query in ("", "?confirm=false", "?confirm=no"):
        response = api.client.delete(f"/api/v1/admin/books{query}", headers=headers)
        assert response.status_code in (400, 422), query
    assert session.scalar(select(func.count()).select_from(Book)) == 1


def test_delete_all_books_deletes_audits_and_drops_the_cache(
    app: FastAPI, api: Api, admin: User, make_book: Any, session: Session
) -> None:
    make_book()
    make_book(category="Travel")
    assert api.client.get("/api/v1/books").json()["total"] == 2  # now cached
    response = api.client.delete("/api/v1/admin/books?confirm=true", headers=api.headers("root"))
    assert response.status_code == 200
    assert response.json() == {"deleted": 2}
    assert session.scalar(select(func.count()).select_from(Book)) == 0
    assert api.client.get("/api/v1/books").json()["total"] == 0
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "admin.books.deleted")).one()
    assert (event.actor_id, event.detail) == (admin.id, {"deleted": 2})


def test_audit_log_is_paginated_and_filterable(api: Api, admin: User, make_user: Callable[..., User]) -> None:
    user = make_user("watched")
    api.login("watched", "wrong-password-here")
    api.tokens_for("watched")
    headers = api.headers("root")
    everything = api.client.get("/api/v1/admin/audit", params={"size": 2}, headers=headers).json()
    assert everything["total"] >= 5 and len(everything["items"]) == 2
    mine = api.client.get("/api/v1/admin/audit", params={"user_id": user.id}, headers=headers).json()
    assert {e["action"] for e in mine["items"]} == {"user.created", "auth.login.failed", "auth.login.succeeded"}
    failed = api.client.get("/api/v1/admin/audit", params={"action": "auth.login.failed"}, headers=headers).json()
    assert [e["actor_id"] for e in failed["items"]] == [user.id]
    logins = api.client.get("/api/v1/admin/audit", params={"action": "auth.login.*"}, headers=headers).json()
    assert {e["action"] for e in logins["items"]} == {"auth.login.failed", "auth.login.succeeded"}
    newest_first = [e["id"] for e in logins["items"]]
    assert newest_first == sorted(newest_first, reverse=True)


def test_testing_helpers_give_other_domains_an_admin_header(
    client: TestClient, session: Session, settings: Settings
) -> None:
    from vitrine.auth.testing import bearer_headers, make_account

    admin = make_account(session, role=Role.admin)
    user = make_account(session)
    session.commit()
    assert client.get("/api/v1/users", headers=bearer_headers(settings, admin)).status_code == 200
    assert client.get("/api/v1/users", headers=bearer_headers(settings, user)).status_code == 403
    login = client.post("/api/v1/auth/login", json={"username": user.username, "password": "!unusable"})
    assert login.status_code == 401
