"""The observability extension: logging, the request-id/metrics/request-log middleware and the writer thread."""

from __future__ import annotations

from fastapi import FastAPI

from vitrine.config import Settings
from vitrine.observability.logging import configure_logging
from vitrine.observability.metrics_setup import mark_current_process_dead
from vitrine.observability.middleware import ObservabilityMiddleware
from vitrine.observability.request_log import RequestLogWriter


def build_writer(app: FastAPI, settings: Settings) -> RequestLogWriter | None:
    options = settings.observability
    if not options.request_log:
        return None
    return RequestLogWriter(
        app.state.session_factory,
        batch_size=options.request_log_batch_size,
        flush_seconds=options.request_log_flush_seconds,
        max_queue=options.request_log_max_queue,
    )


def _start(app: FastAPI) -> None:
    writer: RequestLogWriter | None = app.state.request_log
    if writer is not None:
        writer.start()


def _stop(app: FastAPI) -> None:
    writer: RequestLogWriter | None = app.state.request_log
    if writer is not None:
        writer.stop()
    probe = (getattr(app.state, "ready_celery", None) or {}).get("app")
    if probe is not None:
        probe.close()  # the Celery app /ready pings workers with: release its broker connections
    mark_current_process_dead()


def install(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    configure_logging(settings)
    writer = build_writer(app, settings)
    app.state.request_log = writer
    app.add_middleware(ObservabilityMiddleware, writer=writer)
    app.state.startup_hooks.append(_start)
    app.state.shutdown_hooks.append(_stop)
