"""Answer a repeated read before routing.

Some GET answers are already held as encoded bytes (the catalogue's response cache, FakeStore's product cache).
For a request whose exact path and query string were answered by their route before, a *responder* can give the
same answer again at once: no routing, no parameter validation, no dependency solving — which was most of the
cost of a cached answer (``GET /api/v1/books`` validates nine query parameters on every call). Only what a route
itself answered is remembered, so validation errors and unknown paths never take this path, and a responder
declines whenever its data may have changed (it then goes to the route as usual).

The middleware sits inside the observability middleware: edge answers are timed, counted and logged like any
other, under the route template the responder names.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from vitrine.kit.routes import ROUTE_SCOPE_KEY, route_template

Headers = list[tuple[bytes, bytes]]
T = TypeVar("T")


@dataclass(slots=True, frozen=True)
class EdgeAnswer:
    status: int
    body: bytes
    headers: Headers  # without content-length (added here)
    route: str


class Responder(Protocol):
    async def edge_answer(self, scope: Scope) -> EdgeAnswer | None: ...


ResponderGetter = Callable[[Any], Responder | None]  # app.state -> the responder, once it exists


class EdgeMemory(Generic[T]):
    """(path, raw query string) -> what a responder needs to answer it again, with the route template; LRU."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._items: OrderedDict[tuple[str, bytes], tuple[T, str]] = OrderedDict()
        self._max_entries = max_entries

    def remember(self, scope: Scope, value: T) -> None:
        key = (scope["path"], scope["query_string"])
        self._items[key] = (value, route_template(scope))
        self._items.move_to_end(key)
        if len(self._items) > self._max_entries:
            self._items.popitem(last=False)

    def recall(self, scope: Scope) -> tuple[T, str] | None:
        return self._items.get((scope["path"], scope["query_string"]))

    def clear(self) -> None:
        self._items.clear()


def request_header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, responders: list[ResponderGetter]) -> None:
        self.app = app
        self.responders = responders

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            state = scope["app"].state
            for get in self.responders:
                responder = get(state)
                if responder is None:
                    continue
                answer = await responder.edge_answer(scope)
                if answer is not None:
                    scope[ROUTE_SCOPE_KEY] = answer.route
                    headers = answer.headers
                    if answer.body or answer.status != 304:
                        headers = [*headers, (b"content-length", str(len(answer.body)).encode("latin-1"))]
                    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
                    await send({"type": "http.response.body", "body": answer.body})
                    return
        await self.app(scope, receive, send)


def add_responder(app: FastAPI, get: ResponderGetter) -> None:
    """Register a responder; the middleware is installed with the first one."""
    responders: list[ResponderGetter] | None = getattr(app.state, "edge_responders", None)
    if responders is None:
        responders = app.state.edge_responders = []
        app.add_middleware(EdgeMiddleware, responders=responders)
    responders.append(get)
