"""Whole-response cache for read endpoints whose data changes rarely.

A response is cached as encoded bytes keyed by the endpoint, its validated parameters and a *data version*:
a cheap fingerprint read from the database at most once per ``version_ttl`` seconds per process, off the request
path (requests keep the version they know while one check runs). When a crawl (in any process) changes the data,
the fingerprint changes and every old entry stops matching, so a process serves data about ``version_ttl``
seconds old at most (plus the time of one check). With ``version_ttl=0`` every request checks first. Each entry
carries a strong ETag, so clients can revalidate with ``If-None-Match`` and get a 304.

A hit costs no thread-pool hop and no query: the route stays ``async def`` and only a miss runs blocking code,
in the thread pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.orm import Session

from vitrine.db import SessionFactory
from vitrine.kit.edge import EdgeAnswer, EdgeMemory, request_header

VersionReader = Callable[[Session], Hashable]
logger = logging.getLogger(__name__)
_UNKNOWN: Hashable = object()  # no version read yet (or forgotten by invalidate())


@dataclass(slots=True, frozen=True)
class CachedResponse:
    body: bytes
    etag: str


class ResponseCache:
    def __init__(
        self,
        factory: SessionFactory,
        read_version: VersionReader,
        *,
        version_ttl: float = 1.0,
        max_entries: int = 4096,
        max_age: int = 0,
    ) -> None:
        self._factory = factory
        self._read_version = read_version
        self._version_ttl = version_ttl
        self._max_entries = max_entries
        self._cache_control = f"public, max-age={max_age}" if max_age else "no-cache"
        self._entries: OrderedDict[Hashable, CachedResponse] = OrderedDict()
        self._version: Hashable = _UNKNOWN
        self._checked_at = float("-inf")
        self._lock: asyncio.Lock | None = None
        self._refresh: asyncio.Task[None] | None = None
        # (path, raw query string) -> the (version, entry) a route answered it with: what the edge answers from.
        self._edge: EdgeMemory[tuple[Hashable, CachedResponse]] = EdgeMemory(max_entries)
        self.hits = 0
        self.misses = 0
        self.edge_hits = 0

    def invalidate(self) -> None:
        """Forget everything now (used after this process changes the data): the next request re-reads the version."""
        self._entries.clear()
        self._edge.clear()
        self._version = _UNKNOWN
        self._checked_at = float("-inf")

    def _versioned(self, factory: SessionFactory) -> Hashable:
        with factory() as session:
            return self._read_version(session)

    def _apply(self, version: Hashable, checked_at: float) -> None:
        if version != self._version:
            self._entries.clear()
            self._edge.clear()
            self._version = version
        self._checked_at = checked_at

    async def _check(self) -> None:
        started = time.monotonic()
        self._apply(await run_in_threadpool(self._versioned, self._factory), started)

    async def _refresh_in_background(self) -> None:
        try:
            await self._check()
        except Exception:  # the next request tries again; until then the current version stands
            logger.warning("catalogue version check failed", exc_info=True)
        finally:
            self._refresh = None

    def _known_version(self) -> Hashable:
        """The version to answer with now, without waiting; ``_UNKNOWN`` when a request must check first.

        Stale-while-revalidate: once the interval has passed, answer with the version we know while one check
        runs off the request path. A blocking check would make every request of that moment wait for a query in
        the thread pool, which under load (GIL hand-offs between the loop and the thread) costs tens of
        milliseconds of tail latency. Must be called from the event loop.
        """
        if time.monotonic() - self._checked_at < self._version_ttl:
            return self._version
        if self._version is _UNKNOWN or self._version_ttl <= 0:
            return _UNKNOWN
        if self._refresh is None:
            self._refresh = asyncio.create_task(self._refresh_in_background())
        return self._version

    async def _current_version(self) -> Hashable:
        version = self._known_version()
        if version is not _UNKNOWN:
            return version
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._version is _UNKNOWN or time.monotonic() - self._checked_at >= self._version_ttl:
                await self._check()
        return self._version

    def _compute(self, produce: Callable[[Session], BaseModel | list[Any]]) -> bytes:
        with self._factory() as session:
            result = produce(session)
        if isinstance(result, BaseModel):
            return result.model_dump_json().encode()
        raise TypeError("cached endpoints must return a pydantic model")

    async def respond(self, request: Request, key: Hashable, produce: Callable[[Session], BaseModel]) -> Response:
        version = await self._current_version()
        full_key = (version, key)
        entry = self._entries.get(full_key)
        if entry is None:
            self.misses += 1
            body = await run_in_threadpool(self._compute, produce)
            entry = CachedResponse(body=body, etag='"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')
            if self._version == version:
                self._entries[full_key] = entry
                if len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        else:
            self.hits += 1
            self._entries.move_to_end(full_key)
        if self._version == version and self._version_ttl > 0:
            self._edge.remember(request.scope, (version, entry))
        headers = {"ETag": entry.etag, "Cache-Control": self._cache_control}
        if _matches(request.headers.get("if-none-match"), entry.etag):
            return Response(status_code=304, headers=headers)
        return Response(content=entry.body, media_type="application/json", headers=headers)

    # -- edge: answering a repeated request before routing (vitrine.kit.edge) -------------------------------------
    async def edge_answer(self, scope: Any) -> EdgeAnswer | None:
        """The response already given for exactly this path and query, if the data has not changed since.

        Off with ``version_ttl=0`` (every request then checks the data version first).
        """
        item = self._edge.recall(scope)
        if item is None:
            return None
        (version, entry), route = item
        if version is _UNKNOWN or version != self._known_version():
            return None
        self.edge_hits += 1
        headers = [(b"etag", entry.etag.encode("latin-1")), (b"cache-control", self._cache_control.encode("latin-1"))]
        if_none_match = request_header(scope, b"if-none-match")
        if if_none_match is not None and _matches(if_none_match.decode("latin-1"), entry.etag):
            return EdgeAnswer(304, b"", headers, route)
        return EdgeAnswer(200, entry.body, [*headers, (b"content-type", b"application/json")], route)


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return etag in candidates
