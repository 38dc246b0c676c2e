"""Operators' routes: Prometheus exposition, readiness, request monitoring and request-log clean-up.

Included with prefix "" by the app factory, so every path here is absolute.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from vitrine.auth.audit import record, request_meta
from vitrine.auth.deps import AdminUser
from vitrine.deps import SessionDep, SessionFactoryDep, SettingsDep
from vitrine.errors import BadRequest, ServiceUnavailable, Unauthorized, error_responses
from vitrine.observability import service
from vitrine.observability.metrics_setup import render_metrics
from vitrine.observability.readiness import OK, SKIPPED, readiness
from vitrine.observability.schemas import Bucket, DeletedRequestLogs, Readiness, RequestMonitoring

router = APIRouter(tags=["monitoring"])


def _check_metrics_token(request: Request, expected: Any) -> None:
    if expected is None:
        return
    secret = expected.get_secret_value() if hasattr(expected, "get_secret_value") else str(expected)
    if not secret:
        return
    header = request.headers.get("authorization", "")
    scheme, _, supplied = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(supplied.strip().encode(), secret.encode()):
        raise Unauthorized("A valid metrics token is required")


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text exposition"},
        **error_responses(401),
    },
)
def metrics(request: Request, settings: SettingsDep) -> Response:
    """Prometheus metrics of every process of this deployment. Open unless `observability.metrics_token` is set,
    then `Authorization: Bearer <token>` is required."""
    _check_metrics_token(request, settings.observability.metrics_token)
    return Response(render_metrics(settings), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/ready", response_model=Readiness, responses=error_responses(503))
async def ready(request: Request, settings: SettingsDep, factory: SessionFactoryDep) -> Readiness:
    """Readiness: the database, Redis when configured, and a Celery worker in Celery mode. 503 says what is down.
    `/api/v1/health` stays the cheap liveness check."""
    cache: dict[str, Any] | None = getattr(request.app.state, "ready_celery", None)
    if cache is None:
        cache = request.app.state.ready_celery = {}
    checks = await readiness(settings, factory, cache)
    failing = sorted(name for name, state in checks.items() if state not in (OK, SKIPPED))
    if failing:
        raise ServiceUnavailable({"down": failing, "checks": checks})
    return Readiness(status=OK, checks=checks)


@router.get("/api/v1/monitoring/requests", response_model=RequestMonitoring, responses=error_responses(401, 403, 422))
def monitoring_requests(
    _admin: AdminUser,
    session: SessionDep,
    since: Annotated[datetime | None, Query(description="Window start (ISO 8601, UTC if no zone)")] = None,
    until: Annotated[datetime | None, Query(description="Window end, exclusive (default: now)")] = None,
    minutes: Annotated[int, Query(ge=1, le=44_640, description="Window length when `since` is absent")] = 60,
    bucket: Annotated[Bucket, Query(description="Time bucket size")] = Bucket.five_minutes,
    route: Annotated[str | None, Query(max_length=300, description="Only this route template")] = None,
) -> RequestMonitoring:
    """Per route and per time bucket: request count, 5xx and 4xx rates, p50/p95/p99 latency (admin)."""
    start, end = service.resolve_window(since, until, minutes, bucket)
    return service.request_monitoring(session, since=start, until=end, bucket=bucket, route=route)


@router.delete(
    "/api/v1/admin/request-logs", response_model=DeletedRequestLogs, responses=error_responses(400, 401, 403, 422)
)
def delete_request_logs(
    request: Request,
    admin: AdminUser,
    session: SessionDep,
    confirm: Annotated[bool, Query(description="Must be true: this deletes the whole request log")] = False,
) -> DeletedRequestLogs:
    """Delete every request-log row (admin, audited). Requires `confirm=true`."""
    if not confirm:
        raise BadRequest("Pass confirm=true to delete the request log")
    deleted = service.delete_all_request_logs(session)
    record(
        session,
        action="admin.request_logs.delete",
        actor_id=admin.id,
        detail={"deleted": deleted},
        **request_meta(request),
    )
    return DeletedRequestLogs(deleted=deleted)
