"""GET /api/v1/ready: the database, Redis when configured, and a Celery worker in Celery mode."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vitrine.config import JobsSettings, Settings
from vitrine.db import SessionFactory
from vitrine.main import create_app
from vitrine.sandbox.server import free_port

REDIS_URL = os.environ.get("VITRINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _ready(settings: Settings, session_factory: SessionFactory) -> Any:
    app = create_app(settings, session_factory=session_factory)
    with TestClient(app) as client:
        return client.get("/api/v1/ready")


def _require_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        from tests.conftest import require_service

        require_service("Redis", str(exc))
    finally:
        client.close()


def test_ready_with_only_a_database(client: TestClient) -> None:
    response = client.get("/api/v1/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "skipped", "celery": "skipped"}}


def test_a_stopped_redis_is_reported_down(settings: Settings, session_factory: SessionFactory) -> None:
    # Nothing listens on a port we just freed: a Redis that is not running (the shared one is never stopped).
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    response = _ready(dead, session_factory)
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "ServiceUnavailable"
    assert body["detail"]["down"] == ["redis"]
    assert body["detail"]["checks"] == {"database": "ok", "redis": "down", "celery": "skipped"}


def test_a_running_redis_is_ok(settings: Settings, session_factory: SessionFactory) -> None:
    _require_redis()
    response = _ready(settings.model_copy(update={"redis_url": REDIS_URL}), session_factory)
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["redis"] == "ok"


class _QueueJobsSettings(JobsSettings):
    queue: str = "vitrine"


@pytest.mark.redis
def test_celery_mode_without_a_worker_is_not_ready(settings: Settings, session_factory: SessionFactory) -> None:
    _require_redis()
    # A queue (and Redis key prefix) no worker of any other test listens on.
    jobs = _QueueJobsSettings(**{**settings.jobs.model_dump(), "backend": "celery", "queue": f"obs-{uuid.uuid4().hex}"})
    response = _ready(settings.model_copy(update={"redis_url": REDIS_URL, "jobs": jobs}), session_factory)
    assert response.status_code == 503, response.text
    checks = response.json()["detail"]["checks"]
    assert checks["redis"] == "ok"
    assert checks["celery"] == "down"
    assert response.json()["detail"]["down"] == ["celery"]
