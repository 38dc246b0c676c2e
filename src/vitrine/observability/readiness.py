"""Readiness: can this process do its work? The database, Redis (when configured) and, in Celery mode, a worker.

Each check runs in a worker thread under a deadline, all at once, so a hung dependency costs the probe its timeout
and no more. Results are ``ok``, ``down``, ``unknown`` (cannot tell) or ``skipped`` (not configured).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import anyio
import structlog
from sqlalchemy import text

from vitrine.config import Settings
from vitrine.db import SessionFactory

log = structlog.get_logger(__name__)

OK, DOWN, UNKNOWN, SKIPPED = "ok", "down", "unknown", "skipped"


def check_database(factory: SessionFactory) -> str:
    with factory() as session:
        session.execute(text("SELECT 1"))
    return OK


def check_redis(url: str, timeout: float) -> str:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return OK if client.ping() else DOWN
    finally:
        client.close()


def celery_app_for(settings: Settings, cache: dict[str, Any]) -> Any | None:
    """The jobs domain's Celery app for these settings (built once per FastAPI app), or None if unavailable."""
    if "app" not in cache:
        try:
            module = importlib.import_module("vitrine.jobs.celery_app")
        except ImportError:
            cache["app"] = None
        else:
            create = getattr(module, "create_celery", None)
            cache["app"] = create(settings) if create is not None else getattr(module, "app", None)
    return cache["app"]


def check_celery(settings: Settings, cache: dict[str, Any], timeout: float) -> str:
    app = celery_app_for(settings, cache)
    if app is None:
        return UNKNOWN
    replies = app.control.ping(timeout=timeout)
    return OK if replies else DOWN


async def _run(name: str, check: Callable[[], str], deadline: float, results: dict[str, str]) -> None:
    results[name] = DOWN
    try:
        with anyio.fail_after(deadline):
            results[name] = await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
    except TimeoutError:
        log.warning("ready.check_timeout", check=name, seconds=deadline)
    except Exception as exc:
        log.warning("ready.check_failed", check=name, error=type(exc).__name__)


async def readiness(settings: Settings, factory: SessionFactory, celery_cache: dict[str, Any]) -> dict[str, str]:
    timeout = settings.observability.ready_timeout_seconds
    probe_timeout = max(0.1, timeout / 2)
    results: dict[str, str] = {"database": DOWN, "redis": SKIPPED, "celery": SKIPPED}
    checks: dict[str, Callable[[], str]] = {"database": lambda: check_database(factory)}
    redis_url = settings.redis_url
    if redis_url:
        checks["redis"] = lambda: check_redis(redis_url, probe_timeout)
    if settings.jobs.backend == "celery":
        checks["celery"] = lambda: check_celery(settings, celery_cache, probe_timeout)
    async with anyio.create_task_group() as group:
        for name, check in checks.items():
            group.start_soon(_run, name, check, timeout, results)
    return results
