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
from itertools import chain
from typing import Any

import structlog
from sqlalchemy import Dialect, Engine, Table, insert

from vitrine.db import SessionFactory
from vitrine.models.request_log import RequestLog
from vitrine.observability.metrics import REQUEST_LOG_ROWS

log = structlog.get_logger(__name__)

# Ready to bind (see make_row): (start in unix microseconds, method, route template, status, duration ms, user id or
# 0, client address or "", request id). Absent values travel as 0 and "" and become NULL in the INSERT itself:
# CPython's sqlite3 binds None through its adapter look-up, ~17 times the cost of binding an int (~0.3 µs each,
# with the GIL held), and most requests have no user.
Row = tuple[int, str, str, int, float, int, str, str]

_ERROR_LOG_INTERVAL = 60.0
_MAX_CLIENT_LENGTH = 64

_TABLE: Table = RequestLog.__table__  # type: ignore[assignment]
_WRITTEN = REQUEST_LOG_ROWS.labels("written")
_DROPPED = REQUEST_LOG_ROWS.labels("dropped")
_FAILED = REQUEST_LOG_ROWS.labels("failed")


def factory_owns_pool(factory: SessionFactory) -> bool:
    """Whether sessions from ``factory`` get their own pooled connections (safe to use from another thread)."""
    return isinstance(factory.kw.get("bind"), Engine)


def make_row(
    started_us: int,
    method: str,
    route: str,
    status: int,
    duration_ms: float,
    user_id: Any,
    client: Any,
    request_id: str,
) -> Row:
    """A row ready to bind, built on the request path (a few cheap operations; see ``_write`` for why here)."""
    return (
        started_us,
        method,
        route,
        status,
        duration_ms,
        user_id if type(user_id) is int else 0,
        str(client[0])[:_MAX_CLIENT_LENGTH] if client else "",
        request_id,
    )


def _as_params(row: Row) -> dict[str, Any]:
    started_us, method, route, status, duration_ms, user_id, client_ip, request_id = row
    when = datetime.fromtimestamp(started_us / 1e6, UTC)
    values = (when, method, route, status, duration_ms, user_id or None, client_ip or None, request_id)
    return dict(zip(_COLUMNS, values, strict=True))


# How a batch is written. The writer thread does no Python work per row: rows arrive ready to bind (``make_row``),
# a batch is flattened in C (``itertools.chain``) and sent as one multi-row INSERT per chunk. The time travels as
# microseconds since the epoch, which is how SQLite stores it (``UTCMicros``); PostgreSQL turns it into a
# timestamptz itself. Measured with bench/api.py: encoding each row in this thread (a few Python calls) cost ~10%
# of the API's throughput and doubled its p99, because every time this thread takes the GIL the event loop waits;
# one statement per row (executemany) cost more still.
_COLUMNS = ("created_at", "method", "route", "status", "duration_ms", "user_id", "client_ip", "request_id")
_NAMES = ", ".join(_COLUMNS)
_INSERT = f"INSERT INTO {_TABLE.name} ({_NAMES}) VALUES "


@lru_cache(maxsize=16)
def _sqlite_sql(rows: int) -> str:
    return _INSERT + ", ".join(["(?, ?, ?, ?, ?, NULLIF(?, 0), NULLIF(?, ''), ?)"] * rows)


@lru_cache(maxsize=16)
def _postgresql_sql(rows: int) -> str:
    one = "(TIMESTAMPTZ 'epoch' + %s * INTERVAL '1 microsecond', %s, %s, %s, %s, NULLIF(%s, 0), NULLIF(%s, ''), %s)"
    return _INSERT + ", ".join([one] * rows)


_STATEMENTS: dict[tuple[str, str], Callable[[int], str]] = {
    ("sqlite", "qmark"): _sqlite_sql,
    ("postgresql", "format"): _postgresql_sql,
    ("postgresql", "pyformat"): _postgresql_sql,
}


def _rows_per_statement(dialect: Dialect) -> int:
    if dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 32, 0):
        return 999 // len(_COLUMNS)  # older SQLite builds allow 999 parameters per statement
    return 1000


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
    def flush(self, limit: int | None = None) -> int:
        """Write the queued rows now (the oldest ``limit`` of them, or all), ``batch_size`` rows per transaction.

        Returns how many were written. Deterministic and callable from any thread (tests call it directly). A failed
        batch is dropped, counted and logged (at most once a minute), and the flush stops there; the next one tries
        again. Rows queued while a flush runs wait for the next one (see ``_run``).
        """
        written = 0
        with self._flush_lock:
            queue = self._queue
            left = len(queue) if limit is None else min(limit, len(queue))
            while left > 0:
                batch = [queue.popleft() for _ in range(min(self.batch_size, left))]
                left -= len(batch)
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
            statement = _STATEMENTS.get((dialect.name, dialect.paramstyle))
            if statement is None:  # another database or driver: SQLAlchemy's executemany
                session.execute(insert(_TABLE), [_as_params(row) for row in batch])
            else:
                step = _rows_per_statement(dialect)
                for start in range(0, len(batch), step):
                    chunk = batch[start : start + step]
                    connection.exec_driver_sql(statement(len(chunk)), tuple(chain.from_iterable(chunk)))
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
        # Woken by a full batch, the thread writes whole batches only and leaves the rest queued (it goes first
        # next time); woken by the timer, it writes everything. Each wake-up writes what was queued at that moment:
        # looping until the queue is empty wrote a trickle of small batches under steady load (~350 rows each at
        # 15k requests/s), and every batch costs a transaction and the event loop a few GIL hand-overs.
        while not self._stopping.is_set():
            by_size = self._wake.wait(self.flush_seconds)
            self._wake.clear()
            pending = len(self._queue)
            if by_size and not self._stopping.is_set():
                pending -= pending % self.batch_size
            try:
                self.flush(pending)
            except Exception:  # never let the thread die: a dead writer would silently drop every later row
                log.exception("request_log.writer_error")
