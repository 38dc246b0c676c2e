"""GET /api/v1/monitoring/requests and request-log retention, on known rows with known durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vitrine.models.audit_event import AuditEvent
from vitrine.models.request_log import RequestLog
from vitrine.observability.request_log import RequestLogWriter
from vitrine.observability.service import delete_request_logs_older_than

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a 5-minute boundary
BOOK = "/api/v1/books/{book_id}"
LIST = "/api/v1/books"


def _log(
    session: Session, at: datetime, route: str, duration_ms: float, status: int = 200, method: str = "GET"
) -> None:
    session.add(
        RequestLog(created_at=at, method=method, route=route, status=status, duration_ms=duration_ms, request_id="r")
    )


@pytest.fixture
def known_rows(session: Session) -> None:
    """BOOK: durations 1..100 ms in 10:00-10:05 (3 answers 5xx, 7 answers 4xx), 1..10 ms in 10:05-10:10.
    LIST: 20 rows of 7 ms at 10:01, one POST at 10:02. One BOOK row just outside the window (10:15)."""
    for n in range(1, 101):
        status = 500 if n <= 3 else 404 if n <= 10 else 200
        # Shuffle the order of insertion so that the ranking, not the insertion order, decides.
        _log(session, T0 + timedelta(seconds=(n * 37) % 300), BOOK, float((n * 61) % 100 or 100), status)
    for n in range(1, 11):
        _log(session, T0 + timedelta(minutes=5, seconds=n), BOOK, float(n))
    for _ in range(20):
        _log(session, T0 + timedelta(minutes=1), LIST, 7.0)
    _log(session, T0 + timedelta(minutes=2), LIST, 30.0, status=201, method="POST")
    _log(session, T0 + timedelta(minutes=15), BOOK, 999.0, status=500)
    session.commit()


def _get(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    response = client.get("/api/v1/monitoring/requests", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_counts_error_rates_and_percentiles(
    client: TestClient, admin_headers: dict[str, str], known_rows: None
) -> None:
    body = _get(
        client,
        admin_headers,
        since=T0.isoformat(),
        until=(T0 + timedelta(minutes=10)).isoformat(),
        bucket="5m",
    )
    assert body["bucket_seconds"] == 300
    buckets = {(b["method"], b["route"], b["bucket_start"]): b for b in body["buckets"]}
    assert len(buckets) == 4

    first = buckets[("GET", BOOK, "2026-03-02T10:00:00Z")]
    assert first["count"] == 100
    assert (first["errors_5xx"], first["errors_4xx"]) == (3, 7)
    assert first["error_rate"] == pytest.approx(0.03)
    assert first["client_error_rate"] == pytest.approx(0.07)
    # Durations are 1..100: nearest-rank percentiles are the values themselves.
    assert (first["p50_ms"], first["p95_ms"], first["p99_ms"], first["max_ms"]) == (50, 95, 99, 100)
    assert first["mean_ms"] == pytest.approx(50.5)

    second = buckets[("GET", BOOK, "2026-03-02T10:05:00Z")]
    assert second["count"] == 10
    assert second["error_rate"] == 0
    # ceil(0.5*10)=5, ceil(0.95*10)=10, ceil(0.99*10)=10
    assert (second["p50_ms"], second["p95_ms"], second["p99_ms"], second["max_ms"]) == (5, 10, 10, 10)

    listing = buckets[("GET", LIST, "2026-03-02T10:00:00Z")]
    assert (listing["count"], listing["p50_ms"], listing["p99_ms"]) == (20, 7, 7)
    post = buckets[("POST", LIST, "2026-03-02T10:00:00Z")]
    assert (post["count"], post["p50_ms"], post["errors_4xx"]) == (1, 30, 0)

    # Whole-window lines per route, busiest first; the row at 10:15 is outside.
    routes = [(r["method"], r["route"], r["count"]) for r in body["routes"]]
    assert routes == [("GET", BOOK, 110), ("GET", LIST, 20), ("POST", LIST, 1)]
    whole = body["routes"][0]
    assert whole["errors_5xx"] == 3
    assert whole["error_rate"] == pytest.approx(3 / 110, abs=1e-6)  # rates are rounded to 6 places
    assert whole["max_ms"] == 100


def test_one_route_and_hour_buckets(client: TestClient, admin_headers: dict[str, str], known_rows: None) -> None:
    body = _get(
        client,
        admin_headers,
        since=T0.isoformat(),
        until=(T0 + timedelta(hours=1)).isoformat(),
        bucket="1h",
        route=BOOK,
    )
    assert [(b["route"], b["count"], b["errors_5xx"]) for b in body["buckets"]] == [(BOOK, 111, 4)]
    assert body["buckets"][0]["max_ms"] == 999


def test_last_minutes_from_live_requests(
    client: TestClient, admin_headers: dict[str, str], writer: RequestLogWriter
) -> None:
    for n in (1, 2, 3):
        client.get(f"/api/v1/books/{n}")
    writer.flush()
    body = _get(client, admin_headers, minutes=5, bucket="1m")
    lines = {(r["method"], r["route"]): r for r in body["routes"]}
    assert lines[("GET", BOOK)]["count"] == 3
    assert lines[("GET", BOOK)]["client_error_rate"] == 1.0


def test_admin_only(client: TestClient, user_headers: dict[str, str]) -> None:
    assert client.get("/api/v1/monitoring/requests").status_code == 401
    assert client.get("/api/v1/monitoring/requests", headers=user_headers).status_code == 403
    assert client.delete("/api/v1/admin/request-logs?confirm=true", headers=user_headers).status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-03-02T10:00:00Z", "until": "2026-03-02T09:00:00Z"},
        {"since": "2026-01-01T00:00:00Z", "until": "2026-03-02T00:00:00Z", "bucket": "1d"},
        {"minutes": 44_640, "bucket": "1m"},
        {"bucket": "7m"},
        {"minutes": 0},
    ],
)
def test_bad_windows_are_422(client: TestClient, admin_headers: dict[str, str], params: dict[str, Any]) -> None:
    response = client.get("/api/v1/monitoring/requests", params=params, headers=admin_headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationError"


def _count(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(RequestLog)) or 0)


def test_delete_needs_confirmation_and_is_audited(
    client: TestClient, admin_headers: dict[str, str], known_rows: None, session: Session
) -> None:
    response = client.delete("/api/v1/admin/request-logs", headers=admin_headers)
    assert response.status_code == 400
    assert _count(session) == 132

    response = client.delete("/api/v1/admin/request-logs", params={"confirm": "true"}, headers=admin_headers)
    assert response.status_code == 200
    assert response.json() == {"deleted": 132}
    assert _count(session) == 0
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "admin.request_logs.delete")).one()
    assert event.detail == {"deleted": 132}
    assert event.request_id == response.headers["x-request-id"]


def test_retention_deletes_only_older_rows(session: Session, known_rows: None) -> None:
    assert delete_request_logs_older_than(session, T0 + timedelta(minutes=5)) == 121
    assert _count(session) == 11
    # A naive cutoff is taken as UTC.
    assert delete_request_logs_older_than(session, datetime(2026, 3, 2, 10, 10)) == 10
    assert _count(session) == 1
