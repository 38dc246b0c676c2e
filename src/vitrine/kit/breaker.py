"""A circuit breaker for calls to one upstream service.

closed: calls go through; ``failure_threshold`` consecutive failures open it.
open: calls are refused at once (no latency spent on a dead upstream) for ``cooldown`` seconds.
half-open: after the cool-down, exactly one caller gets a probe permit; its success closes the breaker, its failure
opens it for another cool-down. Other callers keep being refused while the probe is out.

State is per process and thread-safe; the clock is injectable so tests can move time without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class CircuitOpen(Exception):
    """Raised instead of calling an upstream whose breaker is open."""

    def __init__(self, name: str, retry_in: float) -> None:
        super().__init__(f"circuit {name!r} is open; next probe in {retry_in:.1f}s")
        self.name = name
        self.retry_in = retry_in


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.closed
        self._failures = 0
        self._opened_at = 0.0
        self._probe_out = False
        self.opened_count = 0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state is BreakerState.open and self._clock() - self._opened_at >= self.cooldown:
                return BreakerState.half_open
            return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_in(self) -> float:
        with self._lock:
            if self._state is not BreakerState.open:
                return 0.0
            return max(0.0, self.cooldown - (self._clock() - self._opened_at))

    def is_open(self) -> bool:
        """True when a call would be refused right now (does not take a probe permit)."""
        with self._lock:
            if self._state is BreakerState.closed:
                return False
            if self._state is BreakerState.open:
                return self._clock() - self._opened_at < self.cooldown
            return self._probe_out

    def allow(self) -> bool:
        """Ask permission for one call. In half-open state only one caller at a time gets it (the probe)."""
        with self._lock:
            if self._state is BreakerState.closed:
                return True
            if self._state is BreakerState.open:
                if self._clock() - self._opened_at < self.cooldown:
                    return False
                self._state = BreakerState.half_open
                self._probe_out = False
            if self._probe_out:
                return False
            self._probe_out = True
            return True

    def check(self) -> None:
        """``allow()`` or raise :class:`CircuitOpen`."""
        if not self.allow():
            raise CircuitOpen(self.name, self.retry_in())

    def record_success(self) -> None:
        with self._lock:
            self._state = BreakerState.closed
            self._failures = 0
            self._probe_out = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.half_open or self._failures >= self.failure_threshold:
                if self._state is not BreakerState.open:
                    self.opened_count += 1
                self._state = BreakerState.open
                self._opened_at = self._clock()
                self._probe_out = False

    def release(self) -> None:
        """Give back a permit whose call ended with neither success nor failure (e.g. it was cancelled)."""
        with self._lock:
            self._probe_out = False

    def reset(self) -> None:
        self.record_success()
