"""Job kinds: the ``@job`` decorator, the context a job function receives, and the lazy task-module registry."""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vitrine.config import Settings
from vitrine.db import SessionFactory, session_scope
from vitrine.jobs import repository

# Modules whose import registers job kinds. Imported on first lookup; a module not built yet is skipped.
TASK_MODULES: tuple[str, ...] = (
    "vitrine.scraping.tasks",
    "vitrine.ml.tasks",
    "vitrine.fakestore.tasks",
    "vitrine.jobs.tasks",
)

JobResult = dict[str, Any] | None
JobFunction = Callable[["JobContext"], JobResult]

# Progress writes are throttled to this interval (the final write always goes through).
PROGRESS_WRITE_SECONDS = 0.5
# ``should_cancel`` reads the database at most this often.
CANCEL_CHECK_SECONDS = 0.5


class JobCancelled(Exception):
    """Raise from a job to stop it as cancelled (returning after ``should_cancel()`` is True does the same)."""


@dataclass(frozen=True)
class JobSpec:
    kind: str
    fn: JobFunction
    max_attempts: int = 1


_REGISTRY: dict[str, JobSpec] = {}
_modules_loaded = False
_load_lock = threading.Lock()


def job(kind: str, max_attempts: int = 1) -> Callable[[JobFunction], JobFunction]:
    """Register ``fn(ctx) -> dict | None`` as the job ``kind`` (``"domain.name"``)."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")

    def decorate(fn: JobFunction) -> JobFunction:
        existing = _REGISTRY.get(kind)
        if existing is not None and _qualname(existing.fn) != _qualname(fn):
            raise ValueError(f"job kind {kind!r} is already registered by {_qualname(existing.fn)}")
        _REGISTRY[kind] = JobSpec(kind=kind, fn=fn, max_attempts=max_attempts)
        return fn

    return decorate


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def load_task_modules() -> None:
    global _modules_loaded
    if _modules_loaded:
        return
    with _load_lock:
        if _modules_loaded:
            return
        for name in TASK_MODULES:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name is None or not name.startswith(exc.name):
                    raise
        _modules_loaded = True


def get_spec(kind: str) -> JobSpec | None:
    spec = _REGISTRY.get(kind)
    if spec is None:
        load_task_modules()
        spec = _REGISTRY.get(kind)
    return spec


def registered_kinds() -> list[str]:
    load_task_modules()
    return sorted(_REGISTRY)


@dataclass
class JobContext:
    """What a running job can see and do. Every database write uses its own short session from ``factory``."""

    job_id: str
    kind: str
    params: dict[str, Any]
    settings: Settings
    factory: SessionFactory
    attempt: int = 1
    # False when the session factory is bound to one shared connection (the test suite's transaction): then
    # progress is kept in memory and written when the job ends, and there is no background database access.
    live_updates: bool = True
    last_progress: tuple[int, int | None, str] | None = field(default=None, repr=False)
    _cancel_requested: bool = field(default=False, repr=False)
    _cancel_seen: bool = field(default=False, repr=False)
    _lost: bool = field(default=False, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _last_cancel_check: float = field(default=0.0, repr=False)
    _last_progress_write: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """Record progress (throttled) and beat the heart."""
        now = time.monotonic()
        final = total is not None and done >= total
        with self._lock:
            self.last_progress = (done, total, message[:500])
            if not self.live_updates:
                return
            if not final and now - self._last_progress_write < PROGRESS_WRITE_SECONDS:
                return
            self._last_progress_write = now
        with session_scope(self.factory) as session:
            state = repository.record_progress(session, self.job_id, self.attempt, done, total, message[:500])
        self._apply_state(state)

    def should_cancel(self) -> bool:
        """True once cancellation was asked for (or the process is shutting down): stop at the next safe point."""
        now = time.monotonic()
        if self.live_updates and not (self._cancel_requested or self._lost or self._stopping.is_set()):
            with self._lock:
                due = now - self._last_cancel_check >= CANCEL_CHECK_SECONDS
                if due:
                    self._last_cancel_check = now
            if due:
                with session_scope(self.factory) as session:
                    state = repository.ownership(session, self.job_id, self.attempt)
                self._apply_state(state)
        stop = self._cancel_requested or self._lost or self._stopping.is_set()
        if stop:
            self._cancel_seen = True
        return stop

    def load_checkpoint(self) -> dict[str, Any]:
        """This job's checkpoint, or the one left by the last unfinished run of the same kind and parameters."""
        with session_scope(self.factory) as session:
            return repository.load_checkpoint(session, self.job_id)

    def save_checkpoint(self, data: dict[str, Any]) -> None:
        with session_scope(self.factory) as session:
            repository.save_checkpoint(session, self.job_id, data)

    def _apply_state(self, state: repository.Ownership) -> None:
        if not state.owned:
            self._lost = True
        if state.cancel_requested:
            self._cancel_requested = True
