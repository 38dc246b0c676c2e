"""A byte cache with one interface over Redis (shared by every process) and an in-process TTL store.

``make_cache(settings)`` picks Redis when ``settings.redis_url`` is set (optionally behind a :class:`NearCache`),
the in-process store otherwise. Both offer sync methods (jobs, CLI, threads) and ``a``-prefixed async ones
(``async def`` routes: a hit never needs the thread pool), plus a *single-flight lock*: ``try_lock(key, ttl)``
returns a token to exactly one caller until it unlocks or the ttl passes, across processes with Redis
(``SET NX PX`` and a compare-and-delete release), within the process otherwise. A Redis outage degrades to misses
and granted locks; it never raises into a request.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from weakref import WeakKeyDictionary

import redis
import redis.asyncio as aredis
import structlog

if TYPE_CHECKING:
    from vitrine.config import Settings

log = structlog.get_logger(__name__)

WARN_INTERVAL_SECONDS = 10.0

_UNLOCK_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


@runtime_checkable
class Cache(Protocol):
    backend: str
    prefix: str

    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes, ttl: float) -> None: ...
    def delete(self, key: str) -> None: ...
    def try_lock(self, key: str, ttl: float) -> str | None: ...
    def unlock(self, key: str, token: str) -> None: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...
    async def aget(self, key: str) -> bytes | None: ...
    async def aset(self, key: str, value: bytes, ttl: float) -> None: ...
    async def adelete(self, key: str) -> None: ...
    async def atry_lock(self, key: str, ttl: float) -> str | None: ...
    async def aunlock(self, key: str, token: str) -> None: ...
    async def aclose(self) -> None: ...


def _as_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


class MemoryCache:
    """Thread-safe in-process TTL cache, bounded (least recently used entries go first)."""

    backend = "memory"

    def __init__(self, *, prefix: str = "", max_entries: int = 10_000) -> None:
        self.prefix = prefix
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._locks: dict[str, tuple[float, str]] = {}
        self._mutex = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._mutex:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] <= time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item[1]

    def set(self, key: str, value: bytes, ttl: float) -> None:
        with self._mutex:
            self._data[key] = (time.monotonic() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def delete(self, key: str) -> None:
        with self._mutex:
            self._data.pop(key, None)

    def try_lock(self, key: str, ttl: float) -> str | None:
        now = time.monotonic()
        with self._mutex:
            held = self._locks.get(key)
            if held is not None and held[0] > now:
                return None
            token = secrets.token_hex(8)
            self._locks[key] = (now + ttl, token)
            return token

    def unlock(self, key: str, token: str) -> None:
        with self._mutex:
            held = self._locks.get(key)
            if held is not None and held[1] == token:
                del self._locks[key]

    def clear(self) -> None:
        with self._mutex:
            self._data.clear()
            self._locks.clear()

    def close(self) -> None:
        return None

    async def aget(self, key: str) -> bytes | None:
        return self.get(key)

    async def aset(self, key: str, value: bytes, ttl: float) -> None:
        self.set(key, value, ttl)

    async def adelete(self, key: str) -> None:
        self.delete(key)

    async def atry_lock(self, key: str, ttl: float) -> str | None:
        return self.try_lock(key, ttl)

    async def aunlock(self, key: str, token: str) -> None:
        self.unlock(key, token)

    async def aclose(self) -> None:
        return None


class RedisCache:
    """Redis-backed cache; every key is stored under ``prefix``. Async clients are made per event loop."""

    backend = "redis"

    def __init__(self, url: str, *, prefix: str = "vitrine:", socket_timeout: float = 0.5) -> None:
        self.url = url
        self.prefix = prefix
        self._options: dict[str, Any] = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout}
        self._sync = redis.Redis.from_url(url, **self._options)
        self._async: WeakKeyDictionary[asyncio.AbstractEventLoop, aredis.Redis] = WeakKeyDictionary()
        self._warned_at = float("-inf")

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _aclient(self) -> aredis.Redis:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = aredis.Redis.from_url(self.url, **self._options)
            self._async[loop] = client
        return client

    def _failed(self, op: str, exc: Exception) -> None:
        # At most one warning per interval: an outage must not turn every request into a log line.
        now = time.monotonic()
        if now - self._warned_at >= WARN_INTERVAL_SECONDS:
            self._warned_at = now
            log.warning("cache_unavailable", backend="redis", op=op, error=str(exc))

    def get(self, key: str) -> bytes | None:
        try:
            value = self._sync.get(self._k(key))
            return _as_bytes(value)
        except redis.RedisError as exc:
            self._failed("get", exc)
            return None

    def set(self, key: str, value: bytes, ttl: float) -> None:
        try:
            self._sync.set(self._k(key), value, px=max(1, int(ttl * 1000)))
        except redis.RedisError as exc:
            self._failed("set", exc)

    def delete(self, key: str) -> None:
        try:
            self._sync.delete(self._k(key))
        except redis.RedisError as exc:
            self._failed("delete", exc)

    def try_lock(self, key: str, ttl: float) -> str | None:
        token = secrets.token_hex(8)
        try:
            acquired = self._sync.set(self._k(key), token, nx=True, px=max(1, int(ttl * 1000)))
        except redis.RedisError as exc:
            self._failed("lock", exc)
            return token  # cannot coordinate: let the caller proceed rather than wait forever
        return token if acquired else None

    def unlock(self, key: str, token: str) -> None:
        try:
            self._sync.eval(_UNLOCK_SCRIPT, 1, self._k(key), token)
        except redis.RedisError as exc:
            self._failed("unlock", exc)

    def clear(self) -> None:
        """Delete every key under this cache's prefix (tests, `vitrine` maintenance)."""
        try:
            batch = list(self._sync.scan_iter(match=self.prefix + "*", count=500))
            if batch:
                self._sync.delete(*batch)
        except redis.RedisError as exc:
            self._failed("clear", exc)

    def close(self) -> None:
        self._sync.close()

    async def aget(self, key: str) -> bytes | None:
        try:
            value = await self._aclient().get(self._k(key))
            return _as_bytes(value)
        except redis.RedisError as exc:
            self._failed("get", exc)
            return None

    async def aset(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self._aclient().set(self._k(key), value, px=max(1, int(ttl * 1000)))
        except redis.RedisError as exc:
            self._failed("set", exc)

    async def adelete(self, key: str) -> None:
        try:
            await self._aclient().delete(self._k(key))
        except redis.RedisError as exc:
            self._failed("delete", exc)

    async def atry_lock(self, key: str, ttl: float) -> str | None:
        token = secrets.token_hex(8)
        try:
            acquired = await self._aclient().set(self._k(key), token, nx=True, px=max(1, int(ttl * 1000)))
        except redis.RedisError as exc:
            self._failed("lock", exc)
            return token
        return token if acquired else None

    async def aunlock(self, key: str, token: str) -> None:
        try:
            await self._aclient().eval(_UNLOCK_SCRIPT, 1, self._k(key), token)
        except redis.RedisError as exc:
            self._failed("unlock", exc)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._async.pop(loop, None)
        if client is not None:
            await client.aclose()


class NearCache:
    """A short-lived in-process copy in front of a shared cache (Redis): a hot key costs one network round trip
    per ``ttl`` seconds per process instead of one per request. A process may see another's write up to ``ttl``
    late; misses are not remembered, and locks always go to the shared cache."""

    def __init__(self, inner: Cache, *, ttl: float = 1.0, max_entries: int = 2_000) -> None:
        self.inner = inner
        self.backend = f"{inner.backend}+near"
        self.prefix = inner.prefix
        self.ttl = ttl
        self._near = MemoryCache(max_entries=max_entries)

    def get(self, key: str) -> bytes | None:
        value = self._near.get(key)
        if value is None:
            value = self.inner.get(key)
            if value is not None:
                self._near.set(key, value, self.ttl)
        return value

    def set(self, key: str, value: bytes, ttl: float) -> None:
        self.inner.set(key, value, ttl)
        self._near.set(key, value, min(ttl, self.ttl))

    def delete(self, key: str) -> None:
        self._near.delete(key)
        self.inner.delete(key)

    def try_lock(self, key: str, ttl: float) -> str | None:
        return self.inner.try_lock(key, ttl)

    def unlock(self, key: str, token: str) -> None:
        self.inner.unlock(key, token)

    def clear(self) -> None:
        self._near.clear()
        self.inner.clear()

    def close(self) -> None:
        self.inner.close()

    async def aget(self, key: str) -> bytes | None:
        value = self._near.get(key)
        if value is None:
            value = await self.inner.aget(key)
            if value is not None:
                self._near.set(key, value, self.ttl)
        return value

    async def aset(self, key: str, value: bytes, ttl: float) -> None:
        await self.inner.aset(key, value, ttl)
        self._near.set(key, value, min(ttl, self.ttl))

    async def adelete(self, key: str) -> None:
        self._near.delete(key)
        await self.inner.adelete(key)

    async def atry_lock(self, key: str, ttl: float) -> str | None:
        return await self.inner.atry_lock(key, ttl)

    async def aunlock(self, key: str, token: str) -> None:
        await self.inner.aunlock(key, token)

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_cache(settings: Settings, *, prefix: str = "vitrine:", near_seconds: float = 0.0) -> Cache:
    """Redis when ``settings.redis_url`` is set (with a near cache of ``near_seconds`` when > 0), otherwise an
    in-process cache."""
    if settings.redis_url:
        shared = RedisCache(settings.redis_url, prefix=prefix)
        return NearCache(shared, ttl=near_seconds) if near_seconds > 0 else shared
    return MemoryCache(prefix=prefix)


@contextmanager
def single_flight(cache: Cache, key: str, ttl: float) -> Iterator[bool]:
    """``with single_flight(cache, "refresh:x", 10) as mine:`` — ``mine`` is True for exactly one holder."""
    token = cache.try_lock(key, ttl)
    try:
        yield token is not None
    finally:
        if token is not None:
            cache.unlock(key, token)


@asynccontextmanager
async def asingle_flight(cache: Cache, key: str, ttl: float) -> AsyncIterator[bool]:
    token = await cache.atry_lock(key, ttl)
    try:
        yield token is not None
    finally:
        if token is not None:
            await cache.aunlock(key, token)
