"""The ML extension: each API process holds its models, loads the active versions at start-up and follows
promotions with a background poll (every ``Settings.ml.reload_interval_seconds``) that also writes the sampled
prediction log in batches.

The poll is skipped when the app's session factory is bound to a single connection (the test suite's
transaction): a connection must not be shared with a second thread. Tests call ``sync_models(app)`` and
``flush_prediction_logs(app)`` themselves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import structlog
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.ml.batching import PredictionBatcher
from vitrine.ml.predict import ModelHolder, PredictionLogBuffer

log = structlog.get_logger(__name__)

DEFAULT_SAMPLE_RATE = 0.1


@dataclass
class MLState:
    settings: Settings
    factory: SessionFactory
    holder: ModelHolder = field(default_factory=ModelHolder)
    buffer: PredictionLogBuffer = field(default_factory=lambda: PredictionLogBuffer(DEFAULT_SAMPLE_RATE))
    batcher: PredictionBatcher = field(default_factory=PredictionBatcher)
    reloader: ModelReloader | None = None

    def sync(self) -> list[str]:
        return self.holder.sync(self.factory, self.settings.ml.artifacts_dir)

    def flush(self) -> int:
        return self.buffer.flush(self.factory)

    def tick(self) -> None:
        """One poll: follow promotions, then write pending prediction samples. Errors are logged, not raised."""
        try:
            self.sync()
        except Exception as exc:  # the database may be unreachable for a moment; try again next tick
            log.warning("ml.sync.failed", error=str(exc))
        try:
            self.flush()
        except Exception as exc:
            log.warning("ml.prediction_log.flush_failed", error=str(exc))


class ModelReloader:
    def __init__(self, state: MLState, interval: float) -> None:
        self.state = state
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ml-reloader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.state.tick()


def ml_state(app: FastAPI) -> MLState:
    state: MLState = app.state.ml
    return state


def sync_models(app: FastAPI) -> list[str]:
    """Poll once, now (what the background thread does every interval)."""
    return ml_state(app).sync()


def flush_prediction_logs(app: FastAPI) -> int:
    return ml_state(app).flush()


def _shares_one_connection(factory: SessionFactory) -> bool:
    return not isinstance(factory.kw.get("bind"), Engine)


def _startup(app: FastAPI) -> None:
    state = ml_state(app)
    state.tick()  # a starting process serves the active versions from its first request
    interval = state.settings.ml.reload_interval_seconds
    if interval > 0 and not _shares_one_connection(state.factory):
        state.reloader = ModelReloader(state, interval)
        state.reloader.start()


def _shutdown(app: FastAPI) -> None:
    state = ml_state(app)
    if state.reloader is not None:
        state.reloader.stop()
        state.reloader = None
    state.batcher.stop()
    try:
        state.flush()
    except Exception as exc:
        log.warning("ml.prediction_log.flush_failed", error=str(exc))


def install(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    rate = settings.ml.prediction_log_sample_rate
    app.state.ml = MLState(settings=settings, factory=app.state.session_factory, buffer=PredictionLogBuffer(rate))
    app.state.startup_hooks.append(_startup)
    app.state.shutdown_hooks.append(_shutdown)
