"""Failure-counting limiters with a lockout (brute-force protection), in-process or shared through Redis.

A key (a username, a client address...) that fails ``max_failures`` times within ``window_seconds`` is locked for
``lockout_seconds``. While locked, ``retry_after(key)`` says how long to wait. ``reset(key)`` forgets the
failures (after a success). Time comes from an injectable clock (wall-clock seconds), so tests move time instead
of sleeping; the Redis variant stores deadlines computed from that clock and uses key expiry only to collect
garbage. Keys are hashed before use: limiter storage never holds the raw usernames or addresses.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int
    window_seconds: float
    lockout_seconds: float


class AttemptLimiter(Protocol):
    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it is not locked."""
        ...

    def record_failure(self, key: str) -> float:
        """Count one failure; returns the lockout length when this failure locks ``key``, else 0."""
        ...

    def reset(self, key: str) -> None: ...

    def close(self) -> None: ...


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` wants whole seconds; round up so a client that obeys it is never early."""
    return str(max(1, math.ceil(seconds)))


def _hashed(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:40]


class MemoryAttemptLimiter:
    """Per-process limiter. Bounded: beyond ``max_keys`` tracked keys the least recently touched are dropped."""

    def __init__(self, policy: LockoutPolicy, *, clock: Clock = time.time, max_keys: int = 100_000) -> None:
        self.policy = policy
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float:
        key = _hashed(key)
        now = self._clock()
        with self._lock:
            until = self._locked_until.get(key)
            if until is None:
                return 0.0
            if until <= now:
                del self._locked_until[key]
                return 0.0
            return until - now

    def record_failure(self, key: str) -> float:
        key = _hashed(key)
        now = self._clock()
        policy = self.policy
        with self._lock:
            until = self._locked_until.get(key)
            if until is not None and until > now:
                return 0.0  # already locked; the lock is not extended by attempts made while locked
            failures = self._failures.pop(key, None) or deque()
            while failures and failures[0] <= now - policy.window_seconds:
                failures.popleft()
            failures.append(now)
            if len(failures) >= policy.max_failures:
                self._locked_until[key] = now + policy.lockout_seconds
                return policy.lockout_seconds
            self._failures[key] = failures  # re-inserted: most recently touched last
            self._evict(now)
            return 0.0

    def reset(self, key: str) -> None:
        key = _hashed(key)
        with self._lock:
            self._failures.pop(key, None)

    def close(self) -> None:
        return None

    def _evict(self, now: float) -> None:
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)
        if len(self._locked_until) > self._max_keys:
            for key in [k for k, until in self._locked_until.items() if until <= now]:
                del self._locked_until[key]


# One round trip, atomic: drop failures older than the window, add this one, lock when the count reaches the max.
_RECORD_FAILURE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_failures = tonumber(ARGV[3])
local lockout = tonumber(ARGV[4])
local locked_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if locked_until > now then return '0' end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
if redis.call('ZCARD', KEYS[1]) >= max_failures then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], tostring(now + lockout), 'PX', math.ceil(lockout * 1000) + 1000)
  return tostring(lockout)
end
return '0'
"""


class RedisAttemptLimiter:
    """Limiter shared by every process through Redis. If Redis fails, it degrades to an in-process limiter
    (logged) rather than turning logins into errors."""

    def __init__(
        self,
        client: Any,
        policy: LockoutPolicy,
        *,
        prefix: str,
        clock: Clock = time.time,
        owns_client: bool = False,
    ) -> None:
        self.policy = policy
        self.prefix = prefix
        self._client = client
        self._clock = clock
        self._owns_client = owns_client
        self._script = client.register_script(_RECORD_FAILURE)
        self._fallback = MemoryAttemptLimiter(policy, clock=clock)

    def _keys(self, key: str) -> tuple[str, str]:
        hashed = _hashed(key)
        return f"{self.prefix}fail:{hashed}", f"{self.prefix}lock:{hashed}"

    def retry_after(self, key: str) -> float:
        _, lock_key = self._keys(key)
        try:
            raw = self._client.get(lock_key)
        except Exception as exc:
            self._degraded(exc)
            return self._fallback.retry_after(key)
        if raw is None:
            return self._fallback.retry_after(key)
        remaining = float(raw) - self._clock()
        return max(remaining, 0.0)

    def record_failure(self, key: str) -> float:
        fail_key, lock_key = self._keys(key)
        p = self.policy
        args = [self._clock(), p.window_seconds, p.max_failures, p.lockout_seconds, secrets.token_hex(8)]
        try:
            result = self._script(keys=[fail_key, lock_key], args=args)
        except Exception as exc:
            self._degraded(exc)
            return self._fallback.record_failure(key)
        return float(result)

    def reset(self, key: str) -> None:
        fail_key, _ = self._keys(key)
        self._fallback.reset(key)
        try:
            self._client.delete(fail_key)
        except Exception as exc:
            self._degraded(exc)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def _degraded(self, exc: Exception) -> None:
        logger.warning("rate limiter: Redis unavailable (%s); using the in-process limiter", type(exc).__name__)


def build_limiter(
    policy: LockoutPolicy, *, redis_url: str | None, prefix: str, clock: Clock = time.time
) -> AttemptLimiter:
    """Redis-backed when ``redis_url`` is set, in-process otherwise."""
    if not redis_url:
        return MemoryAttemptLimiter(policy, clock=clock)
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0, decode_responses=True)
    return RedisAttemptLimiter(client, policy, prefix=prefix, clock=clock, owns_client=True)
