"""The request log: written in batches off the request path, with what each request was."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from tests.observability.conftest import with_observability

from vitrine.config import Settings
from vitrine.db import SessionFactory, make_engine, make_session_factory
from vitrine.main import create_app
from vitrine.models.request_log import RequestLog
from vitrine.models.user import User
from vitrine.observability.request_log import RequestLogWriter, make_row


@pytest.fixture
def inserts(connection: Connection) -> Iterator[list[tuple[str, bool]]]:
    """Every INSERT INTO request_logs sent to the database: (statement, executemany)."""
    seen: list[tuple[str, bool]] = []

    def _listen(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO REQUEST_LOGS"):
            seen.append((statement, executemany))

    event.listen(connection, "before_cursor_execute", _listen)
    yield seen
    event.remove(connection, "before_cursor_execute", _listen)


def _rows(session: Session) -> list[RequestLog]:
    session.expire_all()
    return list(session.scalars(select(RequestLog).order_by(RequestLog.id)))


def test_rows_are_written_in_batches_after_a_flush(
    client: TestClient, writer: RequestLogWriter, session: Session, inserts: list[tuple[str, bool]]
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    responses = [client.get(f"/api/v1/books/{n}") for n in range(1, 13)]
    assert {r.status_code for r in responses} == {404}
    # Nothing reached the database on the request path.
    assert inserts == []
    assert _rows(session) == []
    assert writer.pending == 12

    assert writer.flush() == 12
    # batch_size=5 -> 5 + 5 + 2 rows, one multi-row INSERT statement each.
    assert len(inserts) == 3
    assert not any(executemany for _, executemany in inserts)
    rows = _rows(session)
    assert len(rows) == 12
    # Times are stored as the ORM stores them: read back aware and right, and comparable in SQL.
    assert all(before <= row.created_at <= datetime.now(UTC) for row in rows)
    found = session.scalars(select(RequestLog.id).where(RequestLog.created_at >= before)).all()
    assert len(found) == 12
    assert {row.route for row in rows} == {"/api/v1/books/{book_id}"}
    assert {row.method for row in rows} == {"GET"}
    assert {row.status for row in rows} == {404}
    assert [row.request_id for row in rows] == [r.headers["x-request-id"] for r in responses]
    assert all(row.client_ip == "testclient" for row in rows)
    assert all(row.duration_ms > 0 for row in rows)
    assert all(row.user_id is None for row in rows)
    assert writer.flush() == 0


def test_a_row_records_method_status_and_the_user(
    app: FastAPI,
    client: TestClient,
    writer: RequestLogWriter,
    session: Session,
    make_user: Callable[..., User],
    headers_for: Callable[[User], dict[str, str]],
) -> None:
    @app.post("/api/v1/_probe/{item}", status_code=201)
    def probe(item: str, request: Request) -> dict[str, str]:
        request.state.user_id = 4242  # what an authentication dependency may set
        return {"item": item}

    assert client.post("/api/v1/_probe/x").status_code == 201
    user = make_user()
    # No explicit user_id: the verified token claims (kept by the auth dependency) name the user.
    assert client.get("/api/v1/monitoring/requests", headers=headers_for(user)).status_code == 403
    client.get("/api/v1/no-such-route")
    writer.flush()
    rows = _rows(session)
    assert [(r.method, r.route, r.status, r.user_id) for r in rows] == [
        ("POST", "/api/v1/_probe/{item}", 201, 4242),
        ("GET", "/api/v1/monitoring/requests", 403, user.id),
        ("GET", "<unmatched>", 404, None),
    ]


def test_metrics_scrapes_are_not_logged(client: TestClient, writer: RequestLogWriter) -> None:
    assert client.get("/metrics").status_code == 200
    assert writer.pending == 0


def test_a_full_queue_drops_and_counts_without_blocking(
    settings: Settings, session_factory: Any, session: Session
) -> None:
    app = create_app(
        with_observability(settings, request_log_batch_size=2, request_log_max_queue=3),
        session_factory=session_factory,
    )
    with TestClient(app) as client:
        statuses = [client.get("/api/v1/health").status_code for _ in range(5)]
    assert statuses == [200] * 5
    writer: RequestLogWriter = app.state.request_log
    assert writer.pending == 3
    assert writer.dropped == 2
    assert writer.flush() == 3
    assert len(_rows(session)) == 3


def test_switched_off(settings: Settings, session_factory: Any, session: Session) -> None:
    app = create_app(with_observability(settings, request_log=False), session_factory=session_factory)
    assert app.state.request_log is None
    with TestClient(app) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.headers["x-request-id"]  # the middleware still runs: ids and metrics
    assert _rows(session) == []


@pytest.fixture
def own_database(tmp_path: Path) -> str:
    """A throwaway SQLite database with only the request_logs table, for writers with their own engine."""
    url = f"sqlite:///{tmp_path / 'requests.db'}"
    engine = make_engine(url, pool_size=2, max_overflow=2)
    RequestLog.__table__.create(engine)
    engine.dispose()
    return url


def _count(url: str) -> int:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with make_session_factory(engine)() as s:
            return len(list(s.scalars(select(RequestLog.id))))
    finally:
        engine.dispose()


def _probe_row(n: int) -> tuple[Any, ...]:
    return make_row(1_800_000_000_000_000 + n, "GET", "/x", 200, 1.5, None, ("10.0.0.1", 1), f"id{n}")


@contextmanager
def running_writer(url: str, writer_class: type[RequestLogWriter] = RequestLogWriter, **options: Any) -> Iterator[Any]:
    """A writer with its own engine on ``url`` and its thread running; stopped (which writes the rest) on exit."""
    engine = make_engine(url, pool_size=2, max_overflow=2)
    writer = writer_class(make_session_factory(engine), **options)
    assert writer.background
    writer.start()
    try:
        yield writer
    finally:
        writer.stop()
        engine.dispose()


def test_a_full_batch_wakes_the_thread_which_writes_whole_batches_only(own_database: str) -> None:
    with running_writer(own_database, batch_size=4, flush_seconds=3600) as writer:
        for n in range(6):
            writer.append(_probe_row(n))
        # Woken by the full batch, not by the (one hour) timer; one whole batch went, and the two rows left over
        # wait for the next batch or the timer rather than going as a batch of their own.
        assert writer.flushed.wait(10)
        assert _count(own_database) == 4
        assert writer.pending == 2
    # Shutdown wrote the rest.
    assert _count(own_database) == 6
    assert writer.pending == 0


class _FailsOnce(RequestLogWriter):
    calls = 0

    def flush(self, limit: int | None = None) -> int:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("unexpected")
        return super().flush(limit)


def test_the_writer_thread_survives_an_unexpected_error(own_database: str) -> None:
    with running_writer(own_database, _FailsOnce, batch_size=2, flush_seconds=0.05) as writer:
        for n in range(2):
            writer.append(_probe_row(n))
        assert writer.flushed.wait(10)  # the first flush raised; the thread went on and wrote on a later wake
        assert writer.calls >= 2
        assert _count(own_database) == 2


def test_shutdown_writes_what_is_queued(settings: Settings, own_database: str) -> None:
    app = create_app(
        with_observability(settings.model_copy(update={"database_url": own_database}), request_log_flush_seconds=3600)
    )
    with TestClient(app) as client:
        for _ in range(3):
            assert client.get("/api/v1/health").status_code == 200
        assert app.state.request_log.background
    # Lifespan shutdown stopped the thread and flushed.
    assert app.state.request_log.pending == 0
    assert _count(own_database) == 3


def test_a_failed_flush_is_counted_and_does_not_raise(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}", pool_size=1, max_overflow=0)  # no table
    writer = RequestLogWriter(make_session_factory(engine), batch_size=10)
    writer.append(make_row(1_800_000_000_000_000, "GET", "/x", 200, 1.0, None, None, "id"))
    assert writer.flush() == 0
    assert writer.failed == 1
    assert writer.pending == 0
    engine.dispose()


@pytest.mark.parametrize("micros", [123_456, 0, 999_999, 1])
def test_the_database_stores_the_time_exactly_as_the_orm_would(
    session_factory: SessionFactory, session: Session, micros: int
) -> None:
    when = datetime(2025, 12, 31, 23, 59, 59, micros, tzinfo=UTC)
    writer = RequestLogWriter(session_factory, batch_size=10, background=False)
    writer.append(make_row(int(when.timestamp()) * 1_000_000 + micros, "GET", "/w", 200, 1.0, 7, None, "writer"))
    assert writer.flush() == 1
    session.add(RequestLog(created_at=when, method="GET", route="/w", status=200, duration_ms=1.0, request_id="orm"))
    session.commit()
    session.expire_all()
    rows = {r.request_id: r for r in session.scalars(select(RequestLog).where(RequestLog.route == "/w"))}
    assert rows["writer"].created_at == rows["orm"].created_at == when
    assert rows["writer"].user_id == 7
    assert rows["writer"].client_ip is None  # no client address: NULL, not an empty string
    raw = dict(session.execute(text("SELECT request_id, created_at FROM request_logs WHERE route = '/w'")).all())
    assert raw["writer"] == raw["orm"]  # the same stored form (integer µs on SQLite), so SQL comparisons agree
