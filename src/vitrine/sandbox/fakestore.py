"""A FakeStoreAPI stand-in: the real product routes, shapes and quirks, with faults switchable at run time.

Quirks kept from the real service: an unknown product id answers ``null`` with status 200; ``limit`` 0, missing or
not a number means "all"; ``sort=desc`` orders by id descending and anything else ascending;
``/products/categories`` is matched before ``/products/{id}``; ``/products/category/{name}`` needs the exact
(URL-encoded) name; ``POST /products`` echoes the body with ``id`` 21 and saves nothing; ``PUT``/``PATCH`` echo with
the path id; ``DELETE`` returns the existing product (or ``null``) and deletes nothing.

Faults (``sandbox.set_fault(mode, ...)`` or ``POST /__sandbox/fault {"mode", "delay", "times"}``):
``error`` 500s, ``slow`` answers after ``delay`` seconds, ``malformed`` sends a non-JSON 200, ``wrong_shape`` a JSON
200 of the wrong shape, ``null`` a ``null`` 200 for every route, ``rate_limited`` 429 with ``Retry-After``.
``times`` limits a fault to the next N product requests. "Down" is the server stopped
(:class:`FakeStoreServer`.``stop()``): connection refused. ``calls`` counts product requests (control routes excluded),
so a test can assert that nothing reached the upstream.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from enum import StrEnum
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from vitrine.sandbox.fakestore_data import products as fixture_products
from vitrine.sandbox.server import ThreadedServer

CONTROL_PREFIX = "/__sandbox"
POST_ECHO_ID = 21  # what the real service answers for every create


class _AnyText(Convertor[str]):
    """Like Starlette's ``path`` convertor, but also across newlines (Express matches any decoded segment)."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("fakestore_text", _AnyText())


class Fault(StrEnum):
    none = "none"
    error = "error"
    slow = "slow"
    malformed = "malformed"
    wrong_shape = "wrong_shape"
    null = "null"
    rate_limited = "rate_limited"


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json; charset=utf-8")


def _limit(raw: str | None) -> int:
    try:
        value = int(raw) if raw is not None else 0
    except ValueError:
        return 0
    return max(value, 0)


def _ordered(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    descending = request.query_params.get("sort") == "desc"
    result = sorted(items, key=lambda p: int(p["id"]), reverse=descending)
    limit = _limit(request.query_params.get("limit"))
    return result[:limit] if limit else result


class FakeStoreSandbox:
    """The ASGI app (an instance is callable) plus its fault switch and call counter."""

    def __init__(self, products: list[dict[str, Any]] | None = None) -> None:
        self.products: list[dict[str, Any]] = products if products is not None else fixture_products()
        self._lock = threading.Lock()
        self._fault = Fault.none
        self._delay = 0.0
        self._times: int | None = None
        self._calls: Counter[str] = Counter()
        self.retry_after = "1"
        self.last_user_agent: str | None = None
        routes = [
            Route(f"{CONTROL_PREFIX}/fault", self._control_fault, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/calls", self._control_calls, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/reset", self._control_reset, methods=["POST"]),
            Route("/products", self._list, methods=["GET"]),
            Route("/products", self._create, methods=["POST"]),
            Route("/products/categories", self._categories, methods=["GET"]),
            Route("/products/category/{category:fakestore_text}", self._in_category, methods=["GET"]),
            Route("/products/{id}", self._detail, methods=["GET"]),
            Route("/products/{id}", self._update, methods=["PUT", "PATCH"]),
            Route("/products/{id}", self._delete, methods=["DELETE"]),
        ]
        self.app = Starlette(routes=routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # -- control ---------------------------------------------------------------------------------------------

    def set_fault(self, mode: Fault | str, *, delay: float = 0.0, times: int | None = None) -> None:
        with self._lock:
            self._fault = Fault(mode)
            self._delay = delay
            self._times = times

    def heal(self) -> None:
        self.set_fault(Fault.none)

    @property
    def fault(self) -> Fault:
        return self._fault

    @property
    def calls(self) -> int:
        with self._lock:
            return sum(self._calls.values())

    def calls_to(self, path: str) -> int:
        with self._lock:
            return self._calls[path]

    def call_log(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._fault = Fault.none
            self._delay = 0.0
            self._times = None

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    async def _control_fault(self, request: Request) -> Response:
        body = await request.json()
        try:
            self.set_fault(body.get("mode", "none"), delay=float(body.get("delay", 0)), times=body.get("times"))
        except ValueError:
            return JSONResponse({"error": f"unknown mode; one of {[f.value for f in Fault]}"}, status_code=400)
        return JSONResponse({"mode": self._fault.value, "delay": self._delay, "times": self._times})

    async def _control_calls(self, _request: Request) -> Response:
        return JSONResponse({"total": self.calls, "by_path": self.call_log()})

    async def _control_reset(self, _request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})

    # -- faults ----------------------------------------------------------------------------------------------

    def _take_fault(self, request: Request) -> tuple[Fault, float]:
        with self._lock:
            self._calls[request.url.path] += 1
            self.last_user_agent = request.headers.get("user-agent")
            fault, delay = self._fault, self._delay
            if fault is not Fault.none and self._times is not None:
                self._times -= 1
                if self._times <= 0:
                    self._fault, self._times = Fault.none, None
            return fault, delay

    async def _faulty(self, request: Request) -> Response | None:
        fault, delay = self._take_fault(request)
        if fault is Fault.slow:
            deadline = time.monotonic() + delay
            # Sleep in slices so healing the sandbox (or stopping it) releases waiting requests quickly.
            while time.monotonic() < deadline and self._fault is Fault.slow:
                await asyncio.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
            return None
        if fault is Fault.error:
            return JSONResponse({"status": "error", "message": "internal server error"}, status_code=500)
        if fault is Fault.malformed:
            return Response("<html><body>Bad gateway</body></html>", media_type="application/json")
        if fault is Fault.wrong_shape:
            return _json({"status": "ok", "data": {"unexpected": True}})
        if fault is Fault.null:
            return _json(None)
        if fault is Fault.rate_limited:
            headers = {"Retry-After": self.retry_after}
            return JSONResponse({"message": "too many requests"}, status_code=429, headers=headers)
        return None

    # -- routes ----------------------------------------------------------------------------------------------

    def _find(self, raw_id: str) -> dict[str, Any] | None:
        try:
            wanted = int(raw_id)
        except ValueError:
            return None
        return next((p for p in self.products if p["id"] == wanted), None)

    async def _list(self, request: Request) -> Response:
        return await self._faulty(request) or _json(_ordered(self.products, request))

    async def _in_category(self, request: Request) -> Response:
        category = request.path_params["category"]
        selected = [p for p in self.products if p["category"] == category]
        return await self._faulty(request) or _json(_ordered(selected, request))

    async def _categories(self, request: Request) -> Response:
        names = sorted({p["category"] for p in self.products})
        return await self._faulty(request) or _json(names)

    async def _detail(self, request: Request) -> Response:
        return await self._faulty(request) or _json(self._find(request.path_params["id"]))

    async def _create(self, request: Request) -> Response:
        faulty = await self._faulty(request)
        if faulty is not None:
            return faulty
        body = await request.json()
        return _json({"id": POST_ECHO_ID, **{k: body.get(k) for k in ("title", "price", "description", "image")}})

    async def _update(self, request: Request) -> Response:
        faulty = await self._faulty(request)
        if faulty is not None:
            return faulty
        body = await request.json()
        try:
            product_id: int | None = int(request.path_params["id"])
        except ValueError:
            product_id = None
        return _json({"id": product_id, **{k: body.get(k) for k in ("title", "price", "description", "image")}})

    async def _delete(self, request: Request) -> Response:
        return await self._faulty(request) or _json(self._find(request.path_params["id"]))


class FakeStoreServer:
    """The sandbox on a real local port that can be taken down (connection refused) and brought back."""

    def __init__(self, sandbox: FakeStoreSandbox | None = None, *, port: int | None = None) -> None:
        self.sandbox = sandbox or FakeStoreSandbox()
        self._server = ThreadedServer(self.sandbox, port=port)
        self.port = self._server.port
        self.running = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeStoreServer:
        if not self.running:
            if self._server.server.started:
                self._server = ThreadedServer(self.sandbox, port=self.port)
            self._server.start()
            self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            self.sandbox.heal()  # release slow requests so the server can shut down
            self._server.stop()
            self.running = False

    def __enter__(self) -> FakeStoreServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def create_app() -> FakeStoreSandbox:
    """``uvicorn --factory vitrine.sandbox.fakestore:create_app``."""
    return FakeStoreSandbox()
