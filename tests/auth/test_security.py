"""Secrets: refused placeholders, nothing sensitive in logs; no 500 for malformed input; the first admin."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.auth.conftest import PASSWORD, Api, bearer
from typer.testing import CliRunner

from vitrine.config import DEV_SECRET, Environment, Settings, get_settings
from vitrine.db import SessionFactory
from vitrine.main import create_app
from vitrine.models.audit_event import AuditEvent
from vitrine.models.refresh_token import RefreshToken
from vitrine.models.user import Role, User


@pytest.mark.parametrize("env", [Environment.production, Environment.test])
@pytest.mark.parametrize("key", ["", "changeme", "secret", "CHANGETHIS", "dev", "short-but-random-Xy7", " " * 40])
def test_outside_development_missing_placeholder_or_short_secret_keys_are_refused(key: str, env: Environment) -> None:
    with pytest.raises(ValidationError, match="VITRINE_SECRET_KEY"):
        Settings(env=env, secret_key=SecretStr(key), _env_file=None)  # type: ignore[call-arg]


def test_the_secret_key_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITRINE_ENV", "production")
    monkeypatch.setenv("VITRINE_SECRET_KEY", "changeme")
    with pytest.raises(ValidationError, match="VITRINE_SECRET_KEY"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_production_accepts_a_long_random_secret_key() -> None:
    key = "q3S9vX1bH7kT0yR4mZ8wC2nL6pF5jD0aE3uG9iK1oM7s"
    settings = Settings(env=Environment.production, secret_key=SecretStr(key), _env_file=None)  # type: ignore[call-arg]
    assert settings.secret_key.get_secret_value() == key


def test_development_gets_a_development_only_key() -> None:
    settings = Settings(env=Environment.development, _env_file=None)  # type: ignore[call-arg]
    assert settings.secret_key.get_secret_value() == DEV_SECRET
    assert DEV_SECRET not in repr(settings)


def test_no_password_token_or_hash_in_the_logs(
    caplog: pytest.LogCaptureFixture, api: Api, make_user: Callable[..., User], session: Session
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = [PASSWORD, "wrong-password-here", "a-brand-new-password"]
    user = make_user("logged")
    api.login("logged", "wrong-password-here")
    first = api.tokens_for("logged")
    second = api.refresh(first["refresh_token"]).json()
    api.refresh(first["refresh_token"])  # reuse, logged as a warning
    third = api.tokens_for("logged")
    api.client.patch(
        "/api/v1/users/me",
        json={"password": "a-brand-new-password", "current_password": PASSWORD},
        headers=bearer(third["access_token"]),
    )
    api.client.post("/api/v1/auth/logout", headers=bearer(third["access_token"]))
    session.refresh(user)
    hashes = [row.token_hash for row in session.scalars(select(RefreshToken))]
    for pair in (first, second, third):
        secrets += [pair["access_token"], pair["refresh_token"]]
    secrets += [user.password_hash, *hashes]
    assert caplog.records, "the flow should log something"
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    leaked = [s for s in secrets if s in text]
    assert leaked == []
    # the signature part alone must not appear either
    assert not any(pair["access_token"].rsplit(".", 1)[1] in text for pair in (first, second, third))
    assert "password_hash" not in repr(user)


BAD_AUTHORIZATION = [
    "Bearer",
    "Bearer ",
    "Bearer x",
    "Bearer a.b.c",
    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
    "Basic dXNlcjpwYXNz",
    "Token abc",
    "bearer " + "a" * 10_000,
    "Bearer \u00e9\u00e9",
    "Bearer a..b",
    "Bearer eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.sig",
]


@pytest.mark.parametrize("header", BAD_AUTHORIZATION)
def test_malformed_authorization_headers_are_401_not_500(client: TestClient, header: str) -> None:
    raw = {"Authorization": header.encode("utf-8")}  # non-ASCII goes out as raw bytes
    response = client.get("/api/v1/users/me", headers=raw)  # type: ignore[dict-item]
    assert response.status_code == 401
    assert client.post("/api/v1/auth/logout", headers=raw).status_code == 401  # type: ignore[dict-item]


BAD_BODIES: list[tuple[str, str, Any]] = [
    ("POST", "/api/v1/auth/refresh", {}),
    ("POST", "/api/v1/auth/refresh", {"refresh_token": ""}),
    ("POST", "/api/v1/auth/refresh", {"refresh_token": None}),
    ("POST", "/api/v1/auth/refresh", {"refresh_token": 12}),
    ("POST", "/api/v1/auth/refresh", {"refresh_token": "a.b.c"}),
    ("POST", "/api/v1/auth/refresh", {"refresh_token": "x" * 5000}),
    ("POST", "/api/v1/auth/refresh", []),
    ("POST", "/api/v1/auth/refresh", "token"),
    ("POST", "/api/v1/auth/logout", {"refresh_token": 3}),
    ("POST", "/api/v1/auth/logout", {"refresh_token": "a.b.c"}),
    ("POST", "/api/v1/users", {}),
    ("POST", "/api/v1/users", {"username": ["a"], "email": {}, "password": 1}),
    ("POST", "/api/v1/users", {"username": "\x00\x00\x00", "email": "a@b.co", "password": "p" * 12}),
    ("POST", "/api/v1/auth/login", {"username": {"$ne": ""}, "password": {"$ne": ""}}),
    ("POST", "/api/v1/auth/login", {"username": "a' OR 1=1 --", "password": "x"}),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_BODIES)
def test_malformed_bodies_are_4xx_not_500(client: TestClient, method: str, path: str, body: Any) -> None:
    response = client.request(method, path, json=body)
    assert 400 <= response.status_code < 500, response.text


def test_raw_garbage_bodies_are_4xx(client: TestClient) -> None:
    for path in ("/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/users", "/api/v1/auth/login"):
        response = client.post(path, content=b"\xff{", headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, (path, response.text)


# The first admin


@pytest.fixture
def env_admin_app(settings: Settings, session_factory: SessionFactory) -> Callable[..., FastAPI]:
    def _build(password: str = "an-admin-password-123") -> FastAPI:
        configured = settings.model_copy(update={"admin_username": "Boss", "admin_password": SecretStr(password)})
        return create_app(configured, session_factory=session_factory)

    return _build


def test_first_admin_is_created_from_the_environment_once(
    env_admin_app: Callable[..., FastAPI], session: Session
) -> None:
    with TestClient(env_admin_app()) as client:
        response = client.post("/api/v1/auth/login", json={"username": "boss", "password": "an-admin-password-123"})
        assert response.status_code == 200
        me = client.get("/api/v1/users/me", headers=bearer(response.json()["access_token"])).json()
        assert (me["username"], me["role"]) == ("Boss", "admin")
    with TestClient(env_admin_app()):  # a restart changes nothing
        pass
    assert len(session.scalars(select(User)).all()) == 1
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.created")).one()
    assert event.detail == {"username": "Boss", "role": "admin", "source": "environment"}


def test_env_admin_never_promotes_an_existing_account(
    env_admin_app: Callable[..., FastAPI], make_user: Callable[..., User], session: Session
) -> None:
    squatter = make_user("boss")
    with TestClient(env_admin_app()):
        pass
    session.refresh(squatter)
    assert squatter.role == "user"
    assert session.scalars(select(User).where(User.role == "admin")).all() == []


def test_env_admin_start_survives_another_process_creating_it_first(
    env_admin_app: Callable[..., FastAPI],
    make_user: Callable[..., User],
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`serve --workers N` on a new database: every process checks, finds no admin, and inserts; one wins."""
    from vitrine.auth import repository

    winner = make_user("Boss", role=Role.admin)  # what the other process committed after this one's checks

    def first_look_before_that_commit(real: Callable[..., bool]) -> Callable[..., bool]:
        looks = 0

        def look(*args: Any) -> bool:
            nonlocal looks
            looks += 1
            return False if looks == 1 else real(*args)

        return look

    for name in ("any_admin", "username_taken"):
        monkeypatch.setattr(repository, name, first_look_before_that_commit(getattr(repository, name)))
    with TestClient(env_admin_app()) as client:  # starts: no unique-constraint error escapes
        assert client.get("/api/v1/health").status_code == 200
    session.expire_all()
    assert [(u.id, u.role) for u in session.scalars(select(User))] == [(winner.id, "admin")]


def test_weak_env_admin_password_stops_the_start(env_admin_app: Callable[..., FastAPI]) -> None:
    with pytest.raises(RuntimeError, match=r"first admin.*at least"), TestClient(env_admin_app(password="short")):
        pass


# The CLI (against its own SQLite file: it commits for real)


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from vitrine.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("VITRINE_DATABASE_URL", url)
    monkeypatch.setenv("VITRINE_AUTH__ARGON2_TIME_COST", "1")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_cli_creates_an_admin_from_stdin_and_lists_users(cli_database: str) -> None:
    from vitrine.cli import app as cli

    runner = CliRunner()
    result = runner.invoke(
        cli, ["users", "create", "--username", "Chief", "--role", "admin"], input="a-cli-password-42\n"
    )
    assert result.exit_code == 0, result.output
    assert "created admin 'Chief'" in result.output
    assert "a-cli-password-42" not in result.output
    listing = runner.invoke(cli, ["users", "list"])
    assert listing.exit_code == 0
    assert "Chief\tadmin\tactive" in listing.output
    duplicate = runner.invoke(cli, ["users", "create", "--username", "chief", "--password", "another-password-1"])
    assert duplicate.exit_code == 1
    assert "already taken" in duplicate.output
    weak = runner.invoke(cli, ["users", "create", "--username", "weak", "--password", "weak"])
    assert weak.exit_code == 1
    assert "at least" in weak.output


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/auth/login", {"username": "nul\x00user", "password": "whatever-password"}),
        ("POST", "/api/v1/users", {"username": "valid", "email": "a\x00b@example.com", "password": "p" * 12}),
        ("GET", "/api/v1/admin/audit?action=auth%00", None),
    ],
)
def test_nul_bytes_are_refused_before_reaching_the_database(
    api: Api, admin: User, method: str, path: str, body: Any
) -> None:
    response = api.client.request(method, path, json=body, headers=api.headers("root"))
    assert response.status_code == 422, response.text
