"""Prometheus metrics shared by every domain.

Import the metric objects from here; never create a second metric with the same name. In multi-process
deployments (uvicorn --workers, Celery), ``PROMETHEUS_MULTIPROC_DIR`` must be set before this module is
imported; the observability extension takes care of that for ``vitrine serve``.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter("vitrine_http_requests_total", "HTTP requests served", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "vitrine_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
JOBS = Counter("vitrine_jobs_total", "Jobs finished", ["kind", "status"])
JOB_DURATION = Histogram(
    "vitrine_job_duration_seconds",
    "Job run time",
    ["kind", "status"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
UPSTREAM_CALLS = Counter("vitrine_upstream_calls_total", "Calls to external services", ["service", "outcome"])
UPSTREAM_LATENCY = Histogram(
    "vitrine_upstream_call_duration_seconds", "External call latency", ["service"], buckets=LATENCY_BUCKETS
)
CACHE_EVENTS = Counter("vitrine_cache_events_total", "Cache lookups", ["cache", "result"])
PREDICTIONS = Counter("vitrine_ml_predictions_total", "Model predictions served", ["model", "version"])

# The request log's own health: rows written, dropped because the queue was full, or lost to a failed flush.
REQUEST_LOG_ROWS = Counter("vitrine_request_log_rows_total", "Request-log rows by outcome", ["outcome"])
