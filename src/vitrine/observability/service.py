"""Observability rules: monitoring figures from the request log, and its retention. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from vitrine.errors import Unprocessable
from vitrine.kit.clock import utcnow
from vitrine.observability import repository
from vitrine.observability.repository import GroupStats
from vitrine.observability.schemas import Bucket, BucketStats, RequestMonitoring, RouteStats

MAX_BUCKETS = 2_000
MAX_WINDOW = timedelta(days=31)


def delete_request_logs_older_than(session: Session, cutoff: datetime) -> int:
    """Retention: delete request-log rows created before ``cutoff``; returns how many. Flushes, never commits."""
    if cutoff.tzinfo is None:
        cutoff = cutoff.replace(tzinfo=UTC)
    return repository.delete_before(session, cutoff)


def delete_all_request_logs(session: Session) -> int:
    return repository.delete_before(session, None)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def resolve_window(
    since: datetime | None, until: datetime | None, minutes: int, bucket: Bucket
) -> tuple[datetime, datetime]:
    """``[since, until)`` from explicit bounds or the last ``minutes``; 422 for an empty or oversized window."""
    end = _as_utc(until) if until is not None else utcnow()
    start = _as_utc(since) if since is not None else end - timedelta(minutes=minutes)
    if start >= end:
        raise Unprocessable("`since` must be before `until`")
    if end - start > MAX_WINDOW:
        raise Unprocessable(f"the window may span at most {MAX_WINDOW.days} days")
    if (end - start).total_seconds() / bucket.seconds > MAX_BUCKETS:
        raise Unprocessable(f"at most {MAX_BUCKETS} buckets per route: choose a larger bucket or a shorter window")
    return start, end


def _rates(group: GroupStats) -> dict[str, float | int | str]:
    return {
        "method": group.method,
        "route": group.route,
        "count": group.count,
        "errors_5xx": group.errors_5xx,
        "errors_4xx": group.errors_4xx,
        "error_rate": round(group.errors_5xx / group.count, 6) if group.count else 0.0,
        "client_error_rate": round(group.errors_4xx / group.count, 6) if group.count else 0.0,
        "mean_ms": round(group.mean_ms, 3),
        "p50_ms": group.p50_ms,
        "p95_ms": group.p95_ms,
        "p99_ms": group.p99_ms,
        "max_ms": group.max_ms,
    }


def request_monitoring(
    session: Session, *, since: datetime, until: datetime, bucket: Bucket, route: str | None = None
) -> RequestMonitoring:
    """Request count, error rates and p50/p95/p99 latency per route, over the window and per time bucket."""
    seconds = bucket.seconds
    totals = repository.request_stats(session, since=since, until=until, bucket_seconds=None, route=route)
    per_bucket = repository.request_stats(session, since=since, until=until, bucket_seconds=seconds, route=route)
    routes = [RouteStats.model_validate(_rates(group)) for group in totals]
    routes.sort(key=lambda r: (-r.count, r.route, r.method))
    buckets = [
        BucketStats.model_validate(
            {**_rates(group), "bucket_start": datetime.fromtimestamp((group.bucket or 0) * seconds, UTC)}
        )
        for group in per_bucket
    ]
    return RequestMonitoring(
        since=since, until=until, bucket=bucket, bucket_seconds=seconds, routes=routes, buckets=buckets
    )
