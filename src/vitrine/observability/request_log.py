"""The request log writer: requests append a tuple to a queue; a background thread writes batches.

The request path pays one ``deque.append`` (atomic under the GIL, no lock, no I/O). The writer thread wakes every
``flush_seconds`` or as soon as ``batch_size`` rows wait, and writes each batch with one multi-row INSERT in its
own short transaction. The queue is bounded: when the database cannot keep up (or is down), new rows are dropped
and counted (``vitrine_request_log_rows_total{outcome="dropped"}``), and a request never waits.

When the session factory is bound to a single connection instead of an engine (the test suite binds it to a
connection inside a rolled-back transaction), that connection cannot be shared with a thread: the writer then
runs no thread and writes only when :meth:`RequestLogWriter.flush` is called.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import structlog
from sqlalchemy import Dialect, Engine, Table, insert

from vitrine.db import SessionFactory
from vitrine.models.request_log import RequestLog
from vitrine.observability.metrics import REQUEST_LOG_ROWS

log = structlog.get_logger(__name__)

# (unix time, method, route template, status, duration ms, user id, ASGI client tuple, request id)
Row = tuple[float, str, str, int, float, Any, Any, str]

_ERROR_LOG_INTERVAL = 60.0
_MAX_CLIENT_LENGTH = 64

_TABLE: Table = RequestLog.__table__  # type: ignore[assignment]
_WRITTEN = REQUEST_LOG_ROWS.labels("written")
_DROPPED = REQUEST_LOG_ROWS.labels("dropped")
_FAILED = REQUEST_LOG_ROWS.labels("failed")


def factory_owns_pool(factory: SessionFactory) -> bool:
    """Whether sessions from ``factory`` get their own pooled connections (safe to use from another thread)."""
    return isinstance(factory.kw.get("bind"), Engine)


def _as_params(row: Row) -> dict[str, Any]:
    started, method, route, status, duration_ms, user_id, client, request_id = row
    return {
        "created_at": datetime.fromtimestamp(started, UTC),
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(duration_ms, 3),
        "user_id": user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else None,
        "client_ip": str(client[0])[:_MAX_CLIENT_LENGTH] if client else None,
        "request_id": request_id,
    }


# One multi-row INSERT per chunk rather than an executemany: the driver then runs one statement (SQLite: one
# prepare and one step) and releases the GIL a handful of times per batch instead of once per row. Under load
# every re-acquisition of the GIL by this thread stalls the event loop; per row, that cost a quarter of the
# throughput and doubled the p99 latency of the API (bench/api.py, request log on vs off).
_COLUMNS = ("created_at", "method", "route", "status", "duration_ms", "user_id", "client_ip", "request_id")
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


@lru_cache(maxsize=16)
def _insert_sql(mark: str, rows: int) -> str:
    one = "(" + ", ".join([mark] * len(_COLUMNS)) + ")"
    return f"INSERT INTO {_TABLE.name} ({', '.join(_COLUMNS)}) VALUES " + ", ".join([one] * rows)


def _rows_per_statement(dialect: Dialect) -> int:
    if dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 32, 0):
        return 999 // len(_COLUMNS)  # older SQLite builds allow 999 parameters per statement
    return 1000


def _utc(started: float) -> datetime:
    return datetime.fromtimestamp(started, UTC)


def _sqlite_text(started: float) -> str:
    return datetime.fromtimestamp(started, UTC).isoformat(" ", "microseconds")[:26]  # without "+00:00"


@lru_cache(maxsize=8)
def _created_at_encoder(dialect: Dialect) -> Callable[[float], Any]:
    """Unix time -> the value the ORM itself would bind for ``created_at`` on this dialect, cheaply.

    The ORM's path (UTCDateTime, then the dialect's processor) costs several Python calls per row; this thread
    holds the GIL meanwhile. Each fast form is checked against that path once and used only if it agrees.
    """
    processor = _TABLE.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)

    def exact(started: float) -> Any:
        value = _utc(started)
        return processor(value) if processor is not None else value

    probe = 1_767_225_599.123456
    for fast in (_sqlite_text, _utc):
        if fast(probe) == exact(probe) and type(fast(probe)) is type(exact(probe)):
            return fast
    return exact


def _encoder(dialect: Dialect) -> Callable[[Row], tuple[Any, ...]]:
    to_db = _created_at_encoder(dialect)

    def encode(row: Row) -> tuple[Any, ...]:
        started, method, route, status, duration_ms, user_id, client, request_id = row
        return (
            to_db(started),
            method,
            route,
            status,
            duration_ms,
            user_id if type(user_id) is int else None,
            str(client[0])[:_MAX_CLIENT_LENGTH] if client else None,
            request_id,
        )

    return encode


class RequestLogWriter:
    def __init__(
        self,
        factory: SessionFactory,
        *,
        batch_size: int = 2000,
        flush_seconds: float = 1.0,
        max_queue: int = 50_000,
        background: bool | None = None,
    ) -> None:
        self._factory = factory
        self.batch_size = max(1, batch_size)
        self.flush_seconds = max(0.01, flush_seconds)
        self.max_queue = max(self.batch_size, max_queue)
        self.background = factory_owns_pool(factory) if background is None else background
        self._queue: deque[Row] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_error_logged = 0.0
        self.flushed = threading.Event()  # set after each flush that wrote rows (lets tests wait without sleeping)
        self.written = 0
        self.dropped = 0
        self.failed = 0

    # -- request path -------------------------------------------------------------------------------------------
    def append(self, row: Row) -> None:
        """Queue one row; never blocks, never raises. Drops (and counts) the row when the queue is full."""
        queue = self._queue
        if len(queue) >= self.max_queue:
            self.dropped += 1
            _DROPPED.inc()
            return
        queue.append(row)
        if len(queue) >= self.batch_size and self._thread is not None and not self._wake.is_set():
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    # -- writing ------------------------------------------------------------------------------------------------
    def flush(self) -> int:
        """Write every queued row now, ``batch_size`` rows per INSERT; returns how many were written.

        Deterministic and callable from any thread (tests call it directly). A failed batch is dropped, counted
        and logged (at most once a minute), and the flush stops there; the next one tries again.
        """
        written = 0
        with self._flush_lock:
            queue = self._queue
            while queue:
                batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
                try:
                    self._write(batch)
                except Exception as exc:
                    self.failed += len(batch)
                    _FAILED.inc(len(batch))
                    self._log_failure(exc, len(batch))
                    break
                written += len(batch)
                self.written += len(batch)
                _WRITTEN.inc(len(batch))
        if written:
            self.flushed.set()
        return written

    def _write(self, batch: list[Row]) -> None:
        with self._factory() as session:
            connection = session.connection()
            dialect = connection.dialect
            mark = _PLACEHOLDERS.get(dialect.paramstyle)
            if mark is None:  # a driver with another parameter style: SQLAlchemy's executemany
                session.execute(insert(_TABLE), [_as_params(row) for row in batch])
            else:
                encode = _encoder(dialect)
                step = _rows_per_statement(dialect)
                for start in range(0, len(batch), step):
                    chunk = batch[start : start + step]
                    values: list[Any] = []
                    for row in chunk:
                        values.extend(encode(row))
                    connection.exec_driver_sql(_insert_sql(mark, len(chunk)), tuple(values))
            session.commit()

    def _log_failure(self, exc: Exception, rows: int) -> None:
        now = time.monotonic()
        if now - self._last_error_logged >= _ERROR_LOG_INTERVAL:
            self._last_error_logged = now
            log.warning("request_log.flush_failed", rows=rows, error=type(exc).__name__)

    # -- background thread --------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread (only when the factory has its own pool; see the module docstring)."""
        if not self.background or self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="vitrine-request-log", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and write what is left (shutdown). Without a thread, queued rows stay queued."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()
