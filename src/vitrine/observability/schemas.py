"""Response models of the observability routes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Bucket(StrEnum):
    one_minute = "1m"
    five_minutes = "5m"
    fifteen_minutes = "15m"
    one_hour = "1h"
    six_hours = "6h"
    one_day = "1d"

    @property
    def seconds(self) -> int:
        unit = {"m": 60, "h": 3600, "d": 86400}[self.value[-1]]
        return int(self.value[:-1]) * unit


class RouteStats(BaseModel):
    method: str
    route: str = Field(description="Route template, e.g. /api/v1/books/{book_id}")
    count: int
    errors_5xx: int
    errors_4xx: int
    error_rate: float = Field(description="Share of 5xx answers (0..1)")
    client_error_rate: float = Field(description="Share of 4xx answers (0..1)")
    mean_ms: float
    p50_ms: float = Field(description="Latency percentiles, nearest-rank method, in milliseconds")
    p95_ms: float
    p99_ms: float
    max_ms: float


class BucketStats(RouteStats):
    bucket_start: datetime


class RequestMonitoring(BaseModel):
    since: datetime
    until: datetime
    bucket: Bucket
    bucket_seconds: int
    routes: list[RouteStats] = Field(description="One line per route over the whole window, busiest first")
    buckets: list[BucketStats] = Field(description="One line per route and time bucket, by route then time")


class DeletedRequestLogs(BaseModel):
    deleted: int


class Readiness(BaseModel):
    status: str = Field(description="ok when every check is ok")
    checks: dict[str, str] = Field(description="database, redis, celery: ok | down | unknown | skipped")
