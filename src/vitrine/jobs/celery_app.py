"""The Celery back end: jobs travel as ``vitrine.jobs.run(job_id)`` messages on Redis; the record stays the truth.

``celery -A vitrine.jobs.celery_app worker`` (or ``vitrine worker``) runs them. Messages are acknowledged after the
job ran (``acks_late``) and given back if the worker process dies (``reject_on_worker_lost``); a redelivered message
for a job that already ran, or that the watchdog took over, finds the job no longer queued and does nothing.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import structlog
from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown

from vitrine.config import Settings, get_settings
from vitrine.db import SessionFactory, make_engine, make_session_factory
from vitrine.jobs.executor import execute_job

log = structlog.get_logger(__name__)

TASK_NAME = "vitrine.jobs.run"
DEFAULT_QUEUE = "vitrine"
# Redis gives an unacknowledged message to another worker after this long; the claim makes that harmless.
VISIBILITY_TIMEOUT_SECONDS = 6 * 3600

_factories: dict[str, SessionFactory] = {}
_factories_lock = threading.Lock()
_default_app: Celery | None = None


def queue_name(settings: Settings) -> str:
    """The Celery queue (and Redis key prefix) of this deployment; distinct per deployment sharing a Redis."""
    configured = settings.jobs.queue
    return str(configured or DEFAULT_QUEUE)


def worker_session_factory(settings: Settings) -> SessionFactory:
    """One engine per worker process (created after the fork, never inherited from the parent)."""
    with _factories_lock:
        factory = _factories.get(settings.database_url)
        if factory is None:
            engine = make_engine(settings.database_url, pool_size=2, max_overflow=4)
            factory = _factories[settings.database_url] = make_session_factory(engine)
        return factory


def create_celery(settings: Settings) -> Celery:
    queue = queue_name(settings)
    app = Celery("vitrine", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,  # our structlog set-up formats every line
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        broker_transport_options={
            "global_keyprefix": f"{queue}:",
            "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
        },
    )
    app.vitrine_settings = settings  # read by the worker signal handlers below

    def dispatch(job_id: str) -> None:
        app.send_task(TASK_NAME, args=[job_id], queue=queue)

    @app.task(name=TASK_NAME, bind=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def run_job(task: Any, job_id: str) -> str | None:
        worker = f"celery:{task.request.hostname}:{os.getpid()}"
        return execute_job(worker_session_factory(settings), settings, job_id, worker=worker, dispatch=dispatch)

    app.vitrine_dispatch = dispatch
    return app


class CeleryRunner:
    """Sends committed jobs to the Celery queue."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_celery(settings)
        self.queue = queue_name(settings)

    def submit(self, job_id: str) -> None:
        self.app.send_task(TASK_NAME, args=[job_id], queue=self.queue)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self.app.close()


def default_app() -> Celery:
    global _default_app
    if _default_app is None:
        _default_app = create_celery(get_settings())
    return _default_app


def __getattr__(name: str) -> Any:
    # ``celery -A vitrine.jobs.celery_app`` looks up ``app``; build it from the environment only when asked.
    if name in ("app", "celery"):
        return default_app()
    raise AttributeError(name)


def _load_tasks_before_fork(**_kwargs: Any) -> None:
    # Import every job module once in the parent, so pool processes inherit them instead of each importing.
    from vitrine.jobs.registry import load_task_modules

    load_task_modules()


def _fresh_engines_in_child(**_kwargs: Any) -> None:
    # A forked pool process must not reuse the parent's database connections.
    with _factories_lock:
        for factory in _factories.values():
            bind = factory.kw.get("bind")
            if bind is not None:
                bind.dispose(close=False)
        _factories.clear()


_watchdogs: dict[int, Any] = {}


def _start_watchdog(sender: Any = None, **_kwargs: Any) -> None:
    """Each worker also recovers jobs whose worker died, so a lost job is retried even without ``vitrine beat``."""
    app = getattr(sender, "app", None)
    settings: Settings | None = getattr(app, "vitrine_settings", None)
    if app is None or settings is None:
        return
    from vitrine.jobs.scheduler import SchedulerLoop

    loop = SchedulerLoop(worker_session_factory(settings), settings, app.vitrine_dispatch, schedule=False)
    loop.start()
    _watchdogs[id(app)] = loop


def _stop_watchdog(sender: Any = None, **_kwargs: Any) -> None:
    for loop in list(_watchdogs.values()):
        loop.stop()
    _watchdogs.clear()


worker_init.connect(_load_tasks_before_fork, weak=False)
worker_process_init.connect(_fresh_engines_in_child, weak=False)
worker_ready.connect(_start_watchdog, weak=False)
worker_shutdown.connect(_stop_watchdog, weak=False)
