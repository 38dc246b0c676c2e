"""All SQL of the observability domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, ColumnElement, case, cast, delete, extract, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from vitrine.models.request_log import RequestLog

PERCENTILES = (50, 95, 99)


@dataclass(slots=True)
class GroupStats:
    """Counters and latency percentiles (nearest rank, in ms) of one (method, route[, bucket]) group."""

    method: str
    route: str
    bucket: int | None
    count: int
    errors_5xx: int
    errors_4xx: int
    mean_ms: float
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0


def nearest_rank(percent: int, count: int) -> int:
    """1-based rank of the ``percent`` percentile among ``count`` sorted values: ceil(percent * count / 100)."""
    return (percent * count + 99) // 100


def _bucket_index(session: Session, seconds: int) -> ColumnElement[int]:
    """Index of the time bucket of each row: floor(unix time / seconds), on the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(extract("epoch", RequestLog.created_at) / seconds), BigInteger)
    # SQLite stores the time as microseconds since the epoch (UTCMicros).
    return type_coerce(RequestLog.created_at, BigInteger()) // (seconds * 1_000_000)


def request_stats(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    bucket_seconds: int | None,
    route: str | None = None,
) -> list[GroupStats]:
    """Per (method, route) — and per time bucket when ``bucket_seconds`` is given — in ``[since, until)``.

    One query on both dialects: window functions rank each group's durations and the outer query keeps only the
    rows at the percentile ranks (and the maximum), so at most four rows per group leave the database however
    many requests the window holds.
    """
    bucket: ColumnElement[int] | None = _bucket_index(session, bucket_seconds) if bucket_seconds else None
    columns = [RequestLog.method, RequestLog.route, RequestLog.status, RequestLog.duration_ms]
    if bucket is not None:
        columns.append(bucket.label("bucket"))  # type: ignore[arg-type]
    base = select(*columns).where(RequestLog.created_at >= since, RequestLog.created_at < until)
    if route is not None:
        base = base.where(RequestLog.route == route)
    rows = base.subquery("rows")
    partition = [rows.c.method, rows.c.route] + ([rows.c.bucket] if bucket is not None else [])
    ranked = select(
        *partition,
        rows.c.duration_ms,
        func.row_number().over(partition_by=partition, order_by=rows.c.duration_ms).label("rank"),
        func.count().over(partition_by=partition).label("n"),
        func.sum(case((rows.c.status >= 500, 1), else_=0)).over(partition_by=partition).label("e5"),
        func.sum(case((rows.c.status.between(400, 499), 1), else_=0)).over(partition_by=partition).label("e4"),
        func.avg(rows.c.duration_ms).over(partition_by=partition).label("mean"),
    ).subquery("ranked")
    wanted = [ranked.c.rank == (ranked.c.n * p + 99) // 100 for p in PERCENTILES]
    wanted.append(ranked.c.rank == ranked.c.n)
    query = select(ranked).where(or_(*wanted))

    groups: dict[tuple[str, str, int | None], GroupStats] = {}
    for row in session.execute(query).mappings():
        bucket_value = int(row["bucket"]) if bucket is not None else None
        key = (row["method"], row["route"], bucket_value)
        stats = groups.get(key)
        count = int(row["n"])
        if stats is None:
            stats = GroupStats(
                method=row["method"],
                route=row["route"],
                bucket=bucket_value,
                count=count,
                errors_5xx=int(row["e5"] or 0),
                errors_4xx=int(row["e4"] or 0),
                mean_ms=float(row["mean"] or 0.0),
            )
            groups[key] = stats
        rank, duration = int(row["rank"]), float(row["duration_ms"])
        if rank == nearest_rank(50, count):
            stats.p50_ms = duration
        if rank == nearest_rank(95, count):
            stats.p95_ms = duration
        if rank == nearest_rank(99, count):
            stats.p99_ms = duration
        if rank == count:
            stats.max_ms = duration
    return sorted(groups.values(), key=lambda g: (g.route, g.method, g.bucket if g.bucket is not None else -1))


def delete_before(session: Session, cutoff: datetime | None) -> int:
    """Delete request-log rows created before ``cutoff`` (all rows when ``None``); returns how many."""
    statement = delete(RequestLog)
    if cutoff is not None:
        statement = statement.where(RequestLog.created_at < cutoff)
    result = session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def count_rows(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(RequestLog)) or 0)
