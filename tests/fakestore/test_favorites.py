"""Favorites: idempotent adds, product existence through the resilient read path, database-enforced uniqueness, and
no IDOR (someone else's favorites are a 404, never a 403)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy.exc
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from vitrine.config import Settings
from vitrine.jobs.service import run_inline
from vitrine.kit.cache import Cache
from vitrine.models.audit_event import AuditEvent
from vitrine.models.favorite import Favorite
from vitrine.models.user import User
from vitrine.sandbox.fakestore import FakeStoreServer

from .conftest import auth

FAVORITES = "/api/v1/favorites"


@pytest.fixture
def api(make_app: Callable[..., FastAPI], memory_cache: Cache) -> Iterator[TestClient]:
    with TestClient(make_app(memory_cache)) as client:
        yield client


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user("admin")


def test_add_is_idempotent_list_and_remove(api: TestClient, fs_settings: Settings, alice: User) -> None:
    headers = auth(fs_settings, alice)
    created = api.post(FAVORITES, json={"product_id": 3}, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["product_id"] == 3 and body["product"]["id"] == 3
    assert body["product_source"] == "upstream"

    again = api.post(FAVORITES, json={"product_id": 3}, headers=headers)
    assert again.status_code == 200
    assert again.json()["created_at"] == body["created_at"]
    assert api.post(FAVORITES, json={"product_id": 11}, headers=headers).status_code == 201

    listed = api.get(FAVORITES, headers=headers)
    assert listed.status_code == 200
    page = listed.json()
    assert page["total"] == 2 and page["user_id"] == alice.id
    assert {item["product_id"] for item in page["items"]} == {3, 11}
    assert all(item["product"] is not None and item["product_source"] == "cache" for item in page["items"])

    assert api.delete(f"{FAVORITES}/3", headers=headers).status_code == 204
    gone = api.delete(f"{FAVORITES}/3", headers=headers)
    assert gone.status_code == 404 and gone.json()["error"] == "NotFound"
    assert [item["product_id"] for item in api.get(FAVORITES, headers=headers).json()["items"]] == [11]


def test_unknown_product_is_404(api: TestClient, fs_settings: Settings, alice: User) -> None:
    response = api.post(FAVORITES, json={"product_id": 4040}, headers=auth(fs_settings, alice))
    assert response.status_code == 404
    assert api.get(FAVORITES, headers=auth(fs_settings, alice)).json()["total"] == 0
    assert api.post(FAVORITES, json={"product_id": 0}, headers=auth(fs_settings, alice)).status_code == 422


def test_anonymous_is_401(api: TestClient) -> None:
    assert api.get(FAVORITES).status_code == 401
    assert api.post(FAVORITES, json={"product_id": 1}).status_code == 401
    assert api.delete(f"{FAVORITES}/1").status_code == 401
    assert api.get("/api/v1/users/1/favorites").status_code == 401


def test_upstream_down_uses_the_copy_and_503_for_never_seen(
    api: TestClient,
    fs_settings: Settings,
    session_factory: object,
    upstream: FakeStoreServer,
    alice: User,
) -> None:
    job = run_inline(session_factory, fs_settings, "fakestore.sync")  # type: ignore[arg-type]
    assert job.status == "succeeded", job.error
    upstream.stop()
    headers = auth(fs_settings, alice)
    added = api.post(FAVORITES, json={"product_id": 14}, headers=headers)
    assert added.status_code == 201 and added.json()["product_source"] == "database"
    listed = api.get(FAVORITES, headers=headers).json()["items"]
    assert listed[0]["product"]["id"] == 14


def test_never_seen_product_while_down_is_503(
    api: TestClient, fs_settings: Settings, upstream: FakeStoreServer, alice: User
) -> None:
    upstream.stop()
    response = api.post(FAVORITES, json={"product_id": 2}, headers=auth(fs_settings, alice))
    assert response.status_code == 503


def test_favorites_list_survives_an_outage_with_unresolvable_products(
    api: TestClient, fs_settings: Settings, session: Session, upstream: FakeStoreServer, alice: User
) -> None:
    session.add(Favorite(user_id=alice.id, product_id=17))
    session.commit()
    upstream.stop()
    page = api.get(FAVORITES, headers=auth(fs_settings, alice)).json()
    assert page["items"][0]["product_id"] == 17
    assert page["items"][0]["product"] is None and page["items"][0]["product_source"] is None


def test_no_idor_someone_elses_favorites_are_404(
    api: TestClient, fs_settings: Settings, alice: User, bob: User, admin: User, session: Session
) -> None:
    as_alice, as_bob, as_admin = (auth(fs_settings, u) for u in (alice, bob, admin))
    assert api.post(FAVORITES, json={"product_id": 1}, headers=as_alice).status_code == 201

    assert api.get(f"/api/v1/users/{alice.id}/favorites", headers=as_bob).status_code == 404
    assert api.delete(f"/api/v1/users/{alice.id}/favorites/1", headers=as_bob).status_code == 404
    assert api.delete(f"{FAVORITES}/1", headers=as_bob).status_code == 404  # only ever touches Bob's own
    assert api.get(FAVORITES, headers=as_bob).json()["total"] == 0
    assert api.get(FAVORITES, headers=as_alice).json()["total"] == 1

    own = api.get(f"/api/v1/users/{alice.id}/favorites", headers=as_alice)
    assert own.status_code == 200 and own.json()["total"] == 1

    seen_by_admin = api.get(f"/api/v1/users/{alice.id}/favorites", headers=as_admin)
    assert seen_by_admin.status_code == 200
    assert [i["product_id"] for i in seen_by_admin.json()["items"]] == [1]
    assert api.get("/api/v1/users/987654/favorites", headers=as_admin).status_code == 404
    assert api.delete(f"/api/v1/users/{alice.id}/favorites/2", headers=as_admin).status_code == 404
    assert api.delete(f"/api/v1/users/{alice.id}/favorites/1", headers=as_admin).status_code == 204
    assert api.get(FAVORITES, headers=as_alice).json()["total"] == 0
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "admin.favorite.deleted")).all()
    assert [(e.actor_id, e.target, e.detail) for e in events] == [(admin.id, f"user:{alice.id}", {"product_id": 1})]


def test_the_database_enforces_one_row_per_user_and_product(session: Session, alice: User) -> None:
    session.add(Favorite(user_id=alice.id, product_id=5))
    session.commit()
    session.add(Favorite(user_id=alice.id, product_id=5))
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        session.commit()
    session.rollback()


def test_favorites_are_paginated(api: TestClient, fs_settings: Settings, alice: User) -> None:
    headers = auth(fs_settings, alice)
    for product_id in (1, 2, 3):
        assert api.post(FAVORITES, json={"product_id": product_id}, headers=headers).status_code == 201
    first = api.get(FAVORITES, params={"size": 2}, headers=headers).json()
    assert first["total"] == 3 and first["pages"] == 2 and len(first["items"]) == 2
    second = api.get(FAVORITES, params={"size": 2, "page": 2}, headers=headers).json()
    assert len(second["items"]) == 1
