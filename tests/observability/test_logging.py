"""Structured logs: request id on every line of a request, stdlib routed through structlog, no secrets."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vitrine.config import Settings
from vitrine.models.user import Role, User
from vitrine.observability.context import request_id_var
from vitrine.observability.logging import REDACTED, configure_logging, redact_text

log = structlog.get_logger("tests.observability")


@pytest.fixture
def json_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"observability": settings.observability.model_copy(update={"json_logs": True, "log_level": "DEBUG"})}
    )


@pytest.fixture
def captured(json_settings: Settings, app: FastAPI) -> Iterator[io.StringIO]:
    """JSON log lines of everything logged during the test (configured after the app, which configures too)."""
    stream = io.StringIO()
    configure_logging(json_settings, stream=stream)
    yield stream
    configure_logging(json_settings)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_structlog_and_stdlib_lines_are_json_with_level_and_time(captured: io.StringIO) -> None:
    log.info("hello", answer=42)
    logging.getLogger("some.library").warning("from %s", "stdlib")
    logging.getLogger("uvicorn.error").warning("uvicorn speaks")  # (uvicorn sets its loggers' levels itself)
    got = lines(captured)
    assert [(line["event"], line["level"]) for line in got] == [
        ("hello", "info"),
        ("from stdlib", "warning"),
        ("uvicorn speaks", "warning"),
    ]
    assert got[0]["answer"] == 42
    assert all("timestamp" in line and "request_id" not in line for line in got)


def test_sensitive_keys_are_redacted_at_any_depth(captured: io.StringIO) -> None:
    log.info(
        "login",
        username="alice",
        password="hunter2-hunter2",
        access_token="tok-abc",
        refresh_token="tok-def",
        client_secret="cs-123",
        headers={"Authorization": "Bearer abcdefghijklmnop", "Cookie": "sid=zzz", "Accept": "json"},
        items=[{"api_key": "k-1"}],
    )
    text = captured.getvalue()
    for secret in ("hunter2", "tok-abc", "tok-def", "cs-123", "abcdefghijklmnop", "sid=zzz", "k-1"):
        assert secret not in text, secret
    (line,) = lines(captured)
    assert line["username"] == "alice"
    assert line["password"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED, "Cookie": REDACTED, "Accept": "json"}


def test_token_shaped_text_is_redacted(captured: io.StringIO) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    logging.getLogger("httpx").warning("GET https://api.example/items?access_token=AT-999&limit=5 failed")
    logging.getLogger("x").error("header was Authorization: Bearer sk_live_0123456789abcdef and token %s", jwt)
    logging.getLogger("x").error("connecting to redis://:p4ssw0rd@cache:6379/0")
    log.info('payload {"password": "pw-in-json", "user": "bob"}')
    text = captured.getvalue()
    for secret in ("AT-999", "sk_live_0123456789abcdef", jwt, "p4ssw0rd", "pw-in-json"):
        assert secret not in text, secret
    assert "limit=5" in text and "bob" in text and "cache:6379" in text


def test_exception_tracebacks_are_redacted(captured: io.StringIO) -> None:
    try:
        raise RuntimeError("refresh failed for refresh_token=RT-secret-1")
    except RuntimeError:
        log.exception("boom")
    (line,) = lines(captured)
    assert "RuntimeError" in line["exception"]
    assert "RT-secret-1" not in captured.getvalue()


def test_redact_text_leaves_ordinary_text_alone() -> None:
    text = "GET /api/v1/books?page=2&size=20 took 3 ms"
    assert redact_text(text) == text


def test_request_id_is_echoed_and_on_every_line_of_the_request(
    app: FastAPI, client: TestClient, captured: io.StringIO
) -> None:
    @app.get("/api/v1/_probe/async")
    async def probe_async() -> dict[str, str | None]:
        log.info("in async route")
        return {"seen": request_id_var.get()}

    @app.get("/api/v1/_probe/sync")
    def probe_sync() -> dict[str, str | None]:
        log.info("in sync route")  # runs in the thread pool: the context goes with it
        logging.getLogger("some.library").info("stdlib in sync route")
        return {"seen": request_id_var.get()}

    first = client.get("/api/v1/_probe/async", headers={"X-Request-ID": "req-abc.123"})
    second = client.get("/api/v1/_probe/sync", headers={"X-Request-ID": "req-def:456"})
    assert first.headers["x-request-id"] == "req-abc.123"
    assert first.json() == {"seen": "req-abc.123"}
    assert second.headers["x-request-id"] == "req-def:456"
    assert second.json() == {"seen": "req-def:456"}
    got = {line["event"]: line.get("request_id") for line in lines(captured)}
    assert got["in async route"] == "req-abc.123"
    assert got["in sync route"] == "req-def:456"
    assert got["stdlib in sync route"] == "req-def:456"
    assert request_id_var.get() is None  # reset after the request


@pytest.mark.parametrize("incoming", ["has spaces", "x" * 65, "semi;colon", "new\\nline", "-leading-dash", "ünïcode"])
def test_unsafe_incoming_ids_are_replaced(client: TestClient, incoming: str) -> None:
    response = client.get("/api/v1/health", headers={"X-Request-ID": incoming.encode()})
    assert response.headers["x-request-id"].encode() != incoming.encode()
    assert re.fullmatch(r"[0-9a-f]{24}", response.headers["x-request-id"])


def test_every_response_gets_a_fresh_id(client: TestClient) -> None:
    ids = {client.get("/api/v1/health").headers["x-request-id"] for _ in range(5)}
    ids.add(client.get("/nowhere").headers["x-request-id"])
    assert len(ids) == 6


def test_no_token_or_password_reaches_the_logs(
    client: TestClient,
    captured: io.StringIO,
    make_user: Callable[..., User],
    headers_for: Callable[[User], dict[str, str]],
) -> None:
    """Requests carrying a bearer token and a password, with DEBUG logging: neither is ever written."""
    headers = headers_for(make_user(Role.admin))
    token = headers["Authorization"].split(" ", 1)[1]
    client.get("/api/v1/monitoring/requests", headers=headers)
    client.get("/api/v1/monitoring/requests", headers={"Authorization": "Bearer " + token[:-3] + "xyz"})
    client.post("/api/v1/auth/login", json={"username": "nobody", "password": "Pa55word-never-logged"})
    logging.getLogger("vitrine").debug("headers %s", headers)
    text = captured.getvalue()
    assert token not in text
    assert token[:40] not in text
    assert "Pa55word-never-logged" not in text


def test_a_switched_off_uvicorn_access_log_stays_off(json_settings: Settings) -> None:
    access = logging.getLogger("uvicorn.access")
    saved = (list(access.handlers), access.propagate)
    try:
        access.handlers.clear()
        access.propagate = False  # what uvicorn does with access_log=False
        configure_logging(json_settings)
        assert not access.hasHandlers()
        access.handlers.append(logging.NullHandler())  # what uvicorn does with access_log=True
        configure_logging(json_settings)
        assert access.handlers == [] and access.propagate  # routed through our formatter instead
    finally:
        access.handlers[:] = saved[0]
        access.propagate = saved[1]
        configure_logging(json_settings)
