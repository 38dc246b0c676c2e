"""One pure ASGI middleware for every HTTP request: request id, Prometheus metrics and the request log.

Pure ASGI rather than ``BaseHTTPMiddleware`` (which wraps every request in extra tasks and streams): the cost per
request is two clock reads, a header scan, one contextvar set/reset, two cached metric updates and, with the
request log on, one tuple appended to a deque. Nothing here touches the database or takes a contended lock.
"""

from __future__ import annotations

from time import perf_counter, time_ns
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vitrine.kit.routes import route_template
from vitrine.observability.context import accept_request_id, new_request_id, request_id_var
from vitrine.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS
from vitrine.observability.request_log import RequestLogWriter, make_row

REQUEST_ID_HEADER = b"x-request-id"
# Requests the request log leaves out (Prometheus scrapes every few seconds; they would drown the real traffic).
NOT_LOGGED = frozenset({"/metrics"})
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, writer: RequestLogWriter | None = None) -> None:
        self.app = app
        self.writer = writer
        # (method, route, status) -> (counter child, histogram child): labels() is a locked dict lookup; this is
        # a plain one. Bounded: methods are normalised and routes are templates.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = perf_counter()
        wall_us = time_ns() // 1000
        request_id: str | None = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                request_id = accept_request_id(value)
                break
        if request_id is None:
            request_id = new_request_id()
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id  # request.state.request_id for handlers (the audit log reads it)
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new list: a cached response may reuse its header list across requests.
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            self._record(scope, state, status, perf_counter() - started, wall_us, request_id)

    def _record(
        self, scope: Scope, state: dict[str, Any], status: int, duration: float, wall_us: int, request_id: str
    ) -> None:
        method: str = scope["method"]
        if method not in _KNOWN_METHODS:
            method = "OTHER"
        route = route_template(scope)
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            label = str(status)
            series = (HTTP_REQUESTS.labels(method, route, label), HTTP_LATENCY.labels(method, route, label))
            self._series[key] = series
        series[0].inc()
        series[1].observe(duration)
        writer = self.writer
        if writer is not None and route not in NOT_LOGGED:
            user_id = state.get("user_id")
            if user_id is None:
                # The auth dependency keeps the verified token claims on request.state.
                user_id = getattr(state.get("token_claims"), "user_id", None)
            writer.append(
                make_row(wall_us, method, route, status, duration * 1000.0, user_id, scope.get("client"), request_id)
            )
