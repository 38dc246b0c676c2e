"""The resilient read path for FakeStore resources (used by ``async def`` routes).

1. A fresh cache entry answers at once: no upstream call, no thread-pool hop (``X-Vitrine-Source: cache``).
2. Otherwise the upstream is asked (concurrent misses of a key share one call in this process, and a Redis
   ``SET NX`` lock makes other processes wait for that call's result instead of repeating it); its answer is
   cached and returned (``upstream``), and the database copy is refreshed by a background job afterwards.
3. When the upstream fails or its breaker is open: the stale cache entry (``stale-cache``), else the database copy
   (``database``), each with ``Age``; 503 only for data never seen.

Optional stale-while-revalidate: an expired entry is served at once and one refresh per key (across processes)
runs in the background.

Cache entries live for ``stale_ttl`` (long) and carry their fetch time; "fresh" means younger than ``cache_ttl``.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx
import orjson
import structlog
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.errors import UpstreamError, UpstreamUnavailable
from vitrine.fakestore.client import FakeStoreClient, make_breaker
from vitrine.kit.breaker import CircuitBreaker, CircuitOpen
from vitrine.kit.cache import Cache
from vitrine.kit.edge import EdgeAnswer, EdgeMemory
from vitrine.kit.http import InvalidResponse, UpstreamStatusError
from vitrine.observability.metrics import CACHE_EVENTS

log = structlog.get_logger(__name__)

CACHE_NAME = "fakestore"
_HIT = CACHE_EVENTS.labels(CACHE_NAME, "hit")
WAIT_POLL_SECONDS = 0.01
DEFAULT_COPY_REFRESH_SECONDS = 600.0
MAX_PERSIST_MEMO = 10_000


class Source(StrEnum):
    cache = "cache"
    upstream = "upstream"
    stale = "stale-cache"
    database = "database"


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached upstream answer: when it was fetched (epoch seconds), its status (200 or 404) and body."""

    stored_at: float
    status: int
    body: bytes

    def encode(self) -> bytes:
        return b"%.3f %d\n" % (self.stored_at, self.status) + self.body

    @classmethod
    def decode(cls, raw: bytes | None) -> Entry | None:
        if not raw:
            return None
        head, sep, body = raw.partition(b"\n")
        stamp, _, status = head.partition(b" ")
        try:
            return cls(float(stamp), int(status), body) if sep else None
        except ValueError:
            return None

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored_at)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    source: Source
    age: int
    # Parameters of the database-copy refresh job; set only on the request that fetched from the upstream.
    upsert: dict[str, Any] | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Vitrine-Source": self.source.value, "Age": str(self.age)}

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    body: bytes
    upsert: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    body: bytes
    fetched_at: float


@dataclass(frozen=True)
class Resource:
    """One cacheable upstream answer: its key, how to fetch it, and how the database copy can stand in for it."""

    key: str
    description: str
    # Called with the client and the fetch time (from the reader's clock, recorded in the database copy).
    fetch: Callable[[FakeStoreClient, datetime], Awaitable[Fetched]]
    from_database: Callable[[Session], Stored | None]
    # Detail reads: a ``null`` for an id we already hold is treated as an upstream fault, not a deletion.
    is_known: Callable[[Session], bool] | None = None


class UpstreamFailure(Exception):
    def __init__(self, reason: str, *, invalid: bool = False, retry_in: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.invalid = invalid
        self.retry_in = retry_in


Persist = Callable[[dict[str, Any]], None]


class ProductReader:
    def __init__(
        self,
        settings: Settings,
        cache: Cache,
        factory: SessionFactory,
        *,
        persist: Persist,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        fs = settings.fakestore
        self.settings = settings
        self.cache = cache
        self.factory = factory
        self.persist_payload = persist
        self.breaker = breaker or make_breaker(fs)
        self.ttl = float(fs.cache_ttl)
        self.stale_ttl = float(fs.stale_ttl_seconds)
        self.stale_while_revalidate = fs.stale_while_revalidate
        backoff_total = sum(min(2.0, 0.1 * 2**n) for n in range(fs.max_retries))
        self.lock_ttl = fs.timeout_seconds * (fs.max_retries + 1) + backoff_total + 1.0
        self.clock = clock
        self._transport = transport
        self.edge: EdgeMemory[str] = EdgeMemory()  # (path, query) -> cache key, learned from the routes
        self.edge_hits = 0
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, FakeStoreClient]] = {}
        self._inflight: dict[str, asyncio.Future[Answer]] = {}
        self._db_inflight: dict[str, asyncio.Future[Stored | None]] = {}
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = threading.Condition()
        self.upstream_fetches = 0
        self.copy_refresh_seconds = float(getattr(fs, "copy_refresh_seconds", DEFAULT_COPY_REFRESH_SECONDS))
        self._persisted: dict[str, float] = {}

    # -- plumbing --------------------------------------------------------------------------------------------

    def client(self) -> FakeStoreClient:
        """The async client of the running event loop (an httpx pool belongs to one loop)."""
        loop = asyncio.get_running_loop()
        held = self._clients.get(id(loop))
        if held is None or held[0] is not loop:
            held = (loop, FakeStoreClient(self.settings.fakestore, self.breaker, transport=self._transport))
            self._clients[id(loop)] = held
        return held[1]

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        for task in list(self._tasks):
            task.cancel()
        held = self._clients.pop(id(loop), None)
        if held is not None:
            await held[1].aclose()
        await self.cache.aclose()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        with self._idle:
            self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            with self._idle:
                self._tasks.discard(finished)
                self._idle.notify_all()
            if not finished.cancelled() and finished.exception() is not None:
                log.warning("fakestore_background_failed", error=str(finished.exception()))

        task.add_done_callback(done)
        return task

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block (from another thread) until no background refresh is running; for tests and benchmarks."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._tasks, timeout)

    def persist(self, payload: dict[str, Any]) -> None:
        """Hand an upstream answer to the database copy (runs after the response; never raises).

        An answer identical to one this process stored less than ``copy_refresh_seconds`` ago is skipped: a
        steady upstream then costs one copy refresh per key per interval, not one job per cache expiry (the
        copy's ``fetched_at`` may lag by up to that interval, which only makes its ``Age`` conservative).
        """
        digest = content_digest(payload)
        now = time.monotonic()
        with self._idle:
            last = self._persisted.get(digest)
            if last is not None and now - last < self.copy_refresh_seconds:
                return
            self._persisted[digest] = now
            if len(self._persisted) > MAX_PERSIST_MEMO:
                self._persisted.clear()
        try:
            self.persist_payload(payload)
        except Exception:
            with self._idle:
                self._persisted.pop(digest, None)
            log.exception("fakestore_persist_failed")

    # -- the edge: a repeated read answered before routing (vitrine.kit.edge) -------------------------------------

    def remember_edge(self, scope: Any, resource: Resource) -> None:
        """Called by a product route that answered ``scope``: the same request may be answered at the edge."""
        self.edge.remember(scope, resource.key)

    async def edge_answer(self, scope: Any) -> EdgeAnswer | None:
        """A fresh cache entry for a request a route answered before; anything else goes to the route."""
        item = self.edge.recall(scope)
        if item is None:
            return None
        key, route = item
        entry = Entry.decode(await self.cache.aget(key))
        if entry is None:
            return None
        age = entry.age(self.clock())
        if age >= self.ttl:
            return None
        _HIT.inc()
        self.edge_hits += 1
        headers = [
            (b"content-type", b"application/json"),
            (b"x-vitrine-source", Source.cache.value.encode("ascii")),
            (b"age", b"%d" % int(age)),
        ]
        return EdgeAnswer(entry.status, entry.body, headers, route)

    # -- the read path ---------------------------------------------------------------------------------------

    async def read(self, resource: Resource) -> Answer:
        entry = Entry.decode(await self.cache.aget(resource.key))
        now = self.clock()
        if entry is not None and entry.age(now) < self.ttl:
            _HIT.inc()
            return Answer(entry.status, entry.body, Source.cache, int(entry.age(now)))
        if entry is not None and self.stale_while_revalidate:
            CACHE_EVENTS.labels(CACHE_NAME, "stale").inc()
            self._revalidate_in_background(resource, entry)
            return Answer(entry.status, entry.body, Source.stale, int(entry.age(now)))
        CACHE_EVENTS.labels(CACHE_NAME, "miss" if entry is None else "expired").inc()
        if self.breaker.is_open():
            return await self._fallback(resource, entry, UpstreamFailure("circuit open", retry_in=self._retry_in()))
        try:
            return await self._coalesced(resource, entry)
        except UpstreamFailure as failure:
            return await self._fallback(resource, entry, failure)

    async def _coalesced(self, resource: Resource, entry: Entry | None) -> Answer:
        running = self._inflight.get(resource.key)
        if running is not None:
            return replace(await asyncio.shield(running), upsert=None)
        task: asyncio.Future[Answer] = asyncio.ensure_future(self._fetch_and_store(resource, entry))
        self._inflight[resource.key] = task

        def forget(_done: asyncio.Future[Answer]) -> None:
            if self._inflight.get(resource.key) is task:
                del self._inflight[resource.key]
            if not task.cancelled():
                task.exception()  # retrieved here so an unobserved failure is not reported as a leak

        task.add_done_callback(forget)
        return await asyncio.shield(task)

    async def _fetch_and_store(self, resource: Resource, entry: Entry | None) -> Answer:
        lock_key = "lock:" + resource.key
        token = await self.cache.atry_lock(lock_key, self.lock_ttl)
        if token is None:
            if entry is not None:
                # Another process is refreshing this key: our stale copy now beats waiting on a slow upstream.
                raise UpstreamFailure("a refresh is in progress in another process")
            token, answer = await self._wait_for_other_process(resource, lock_key)
            if answer is not None:
                return answer
        try:
            fetched = await self._fetch(resource, entry)
            await self._store(resource, fetched)
            return Answer(fetched.status, fetched.body, Source.upstream, 0, fetched.upsert)
        finally:
            if token is not None:
                await self.cache.aunlock(lock_key, token)

    async def _store(self, resource: Resource, fetched: Fetched) -> None:
        entry = Entry(self.clock(), fetched.status, fetched.body)
        await self.cache.aset(resource.key, entry.encode(), self.stale_ttl)

    async def _wait_for_other_process(self, resource: Resource, lock_key: str) -> tuple[str | None, Answer | None]:
        """Another process holds the refresh lock: wait for its result in the cache (or for the lock to free)."""
        deadline = time.monotonic() + self.lock_ttl
        while time.monotonic() < deadline:
            await asyncio.sleep(WAIT_POLL_SECONDS)
            entry = Entry.decode(await self.cache.aget(resource.key))
            now = self.clock()
            if entry is not None and entry.age(now) < self.ttl:
                CACHE_EVENTS.labels(CACHE_NAME, "shared").inc()
                return None, Answer(entry.status, entry.body, Source.cache, int(entry.age(now)))
            token = await self.cache.atry_lock(lock_key, self.lock_ttl)
            if token is not None:
                return token, None  # the holder gave up without a result: our turn
        return None, None

    async def _fetch(self, resource: Resource, entry: Entry | None) -> Fetched:
        self.upstream_fetches += 1
        try:
            fetched = await resource.fetch(self.client(), datetime.fromtimestamp(self.clock(), UTC))
        except CircuitOpen as exc:
            raise UpstreamFailure("circuit open", retry_in=exc.retry_in) from None
        except httpx.TimeoutException:
            raise UpstreamFailure("upstream timed out") from None
        except httpx.TransportError as exc:
            raise UpstreamFailure(f"upstream unreachable ({type(exc).__name__})") from None
        except UpstreamStatusError as exc:
            raise UpstreamFailure(f"upstream answered {exc.response.status_code}") from None
        except InvalidResponse as exc:
            raise UpstreamFailure(f"upstream sent an invalid response: {exc}", invalid=True) from None
        if fetched.status == 404 and resource.is_known is not None and await self._known(resource):
            self.breaker.record_failure()
            raise UpstreamFailure("upstream answered null for a product it listed before", invalid=True)
        return fetched

    async def _known(self, resource: Resource) -> bool:
        """Whether the database copy holds the item (the whole refresh, which sees complete listings, is the one
        authority that removes products; a stale cache entry alone does not make a ``null`` suspicious)."""
        check = resource.is_known
        assert check is not None
        return bool(await run_in_threadpool(self._in_session, check))

    def _in_session(self, fn: Callable[[Session], Any]) -> Any:
        with self.factory() as session:
            return fn(session)

    def _retry_in(self) -> float:
        return self.breaker.retry_in() or self.settings.fakestore.breaker_cooldown_seconds

    async def _fallback(self, resource: Resource, entry: Entry | None, failure: UpstreamFailure) -> Answer:
        now = self.clock()
        log.debug("fakestore_fallback", key=resource.key, reason=failure.reason, have_stale=entry is not None)
        if entry is not None:
            CACHE_EVENTS.labels(CACHE_NAME, "stale").inc()
            return Answer(entry.status, entry.body, Source.stale, int(entry.age(now)))
        stored = await self._from_database(resource)
        if stored is not None:
            CACHE_EVENTS.labels(CACHE_NAME, "database").inc()
            return Answer(200, stored.body, Source.database, int(max(0.0, now - stored.fetched_at)))
        retry_in = failure.retry_in if failure.retry_in is not None else 5.0
        headers = {"Retry-After": str(max(1, int(retry_in)))}
        if failure.invalid:
            raise UpstreamError(
                f"FakeStore sent an invalid answer for {resource.description} and no copy is available "
                f"({failure.reason})",
                headers=headers,
            )
        raise UpstreamUnavailable(
            f"FakeStore is unavailable ({failure.reason}) and {resource.description} has never been fetched; "
            "try again later",
            headers=headers,
        )

    async def _from_database(self, resource: Resource) -> Stored | None:
        """The copy's answer; concurrent requests for one key share one query. A found answer is cached with its
        real fetch time, so during a long outage the next reads are stale-cache hits instead of queries."""
        running = self._db_inflight.get(resource.key)
        if running is not None:
            return await asyncio.shield(running)
        task: asyncio.Future[Stored | None] = asyncio.ensure_future(self._query_copy(resource))
        self._db_inflight[resource.key] = task
        task.add_done_callback(lambda _t: self._db_inflight.pop(resource.key, None))
        return await asyncio.shield(task)

    async def _query_copy(self, resource: Resource) -> Stored | None:
        try:
            stored: Stored | None = await run_in_threadpool(self._in_session, resource.from_database)
        except Exception:
            log.exception("fakestore_database_fallback_failed", key=resource.key)
            return None
        if stored is not None:
            entry = Entry(stored.fetched_at, 200, stored.body)
            await self.cache.aset(resource.key, entry.encode(), self.stale_ttl)
        return stored

    # -- stale-while-revalidate ------------------------------------------------------------------------------

    def _revalidate_in_background(self, resource: Resource, entry: Entry) -> None:
        if resource.key in self._refreshing or resource.key in self._inflight or self.breaker.is_open():
            return
        self._refreshing.add(resource.key)
        task = self._spawn(self._revalidate(resource, entry))
        task.add_done_callback(lambda _t: self._refreshing.discard(resource.key))

    async def _revalidate(self, resource: Resource, entry: Entry) -> None:
        lock_key = "lock:" + resource.key
        token = await self.cache.atry_lock(lock_key, self.lock_ttl)
        if token is None:
            return  # another process is refreshing this key
        try:
            fetched = await self._fetch(resource, entry)
            await self._store(resource, fetched)
        except UpstreamFailure as failure:
            log.info("fakestore_revalidate_failed", key=resource.key, reason=failure.reason)
            return
        finally:
            await self.cache.aunlock(lock_key, token)
        if fetched.upsert is not None:
            await run_in_threadpool(self.persist, fetched.upsert)


def payload_digest(payload: dict[str, Any]) -> str:
    return hashlib.blake2b(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS), digest_size=10).hexdigest()


def content_digest(payload: dict[str, Any]) -> str:
    """The digest of what an upsert says, whatever its fetch time."""
    return payload_digest({k: v for k, v in payload.items() if k != "fetched_at"})
