"""Outbound HTTP: one factory for every client that talks to a service we do not run.

Each client has explicit timeouts, a connection pool, a User-Agent naming Vitrine, an optional per-host rate limit,
an optional circuit breaker, and retries with exponential backoff and jitter on 429, 5xx, network errors and
responses the caller's parser rejects (honouring ``Retry-After``). Every attempt is logged and counted in
``vitrine_upstream_calls_total{service,outcome}`` and timed in ``vitrine_upstream_call_duration_seconds``.

The sync client (jobs, CLI, workers) and the async client (``async def`` routes) share the same policy code.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import httpx
import structlog

from vitrine import __version__
from vitrine.kit.breaker import CircuitBreaker, CircuitOpen
from vitrine.observability.metrics import UPSTREAM_CALLS, UPSTREAM_LATENCY

T = TypeVar("T")

log = structlog.get_logger(__name__)

DEFAULT_USER_AGENT = f"Vitrine/{__version__} (+https://github.com/vitrine-hub/vitrine)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class InvalidResponse(Exception):
    """Raised by a response parser when a 2xx body is not what the service promises (non-JSON, wrong shape)."""


class UpstreamStatusError(httpx.HTTPStatusError):
    """The service kept answering 429/5xx until the retries ran out."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(
            f"{response.request.method} {response.request.url} answered {response.status_code}",
            request=response.request,
            response=response,
        )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    backoff_base: float = 0.1
    backoff_max: float = 5.0
    retry_statuses: frozenset[int] = RETRY_STATUSES
    retry_methods: frozenset[str] = IDEMPOTENT_METHODS

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with "equal jitter": half the step is fixed, half random (retry_number from 0)."""
        step = min(self.backoff_max, self.backoff_base * (2.0**retry_number))
        jitter = rng.uniform(0, step / 2) if rng is not None else random.uniform(0, step / 2)
        return step / 2 + jitter


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


class HostRateLimiter:
    """At most ``per_second`` request starts per host (a reservation schedule, thread-safe)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, host: str) -> float:
        """Reserve the next slot for ``host`` and return how long to wait for it."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(host, now))
            self._next[host] = slot + self.interval
            return slot - now


@dataclass(slots=True)
class _Attempt:
    """What one attempt produced, and whether the loop should try again."""

    outcome: str
    response: httpx.Response | None = None
    error: BaseException | None = None
    retry_after: float | None = None
    breaker_failure: bool = False

    @property
    def failed(self) -> bool:
        return self.outcome not in {"ok", "client_error"}


@dataclass
class ClientConfig:
    service: str
    base_url: str = ""
    timeout: float = 10.0
    connect_timeout: float | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: CircuitBreaker | None = None
    user_agent: str = DEFAULT_USER_AGENT
    rate_per_second: float = 0.0
    max_connections: int = 100
    max_keepalive: int = 20
    headers: dict[str, str] = field(default_factory=dict)

    def httpx_options(self) -> dict[str, Any]:
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout or self.timeout)
        limits = httpx.Limits(max_connections=self.max_connections, max_keepalive_connections=self.max_keepalive)
        headers = {"User-Agent": self.user_agent, "Accept": "application/json", **self.headers}
        return {
            "base_url": self.base_url,
            "timeout": timeout,
            "limits": limits,
            "headers": headers,
            "verify": shared_ssl_context(),
        }


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: building one (loading the CA bundle) costs ~0.1 s."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _classify(response: httpx.Response) -> _Attempt:
    status = response.status_code
    if status == 429:
        return _Attempt("rate_limited", response, retry_after=parse_retry_after(response.headers.get("retry-after")))
    if status >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return _Attempt("server_error", response, retry_after=retry_after, breaker_failure=True)
    if status >= 400:
        return _Attempt("client_error", response)
    return _Attempt("ok", response)


def _error_attempt(exc: BaseException) -> _Attempt:
    if isinstance(exc, InvalidResponse):
        return _Attempt("invalid", error=exc, breaker_failure=True)
    if isinstance(exc, httpx.TimeoutException):
        return _Attempt("timeout", error=exc, breaker_failure=True)
    return _Attempt("network_error", error=exc, breaker_failure=True)


class _Policy:
    """The retry/breaker/metrics decisions shared by the sync and async clients."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.limiter = HostRateLimiter(config.rate_per_second)

    def permit(self, retry_number: int, last: _Attempt | None) -> None:
        breaker = self.config.breaker
        if breaker is None or breaker.allow():
            return
        UPSTREAM_CALLS.labels(self.config.service, "circuit_open").inc()
        if last is None:
            raise CircuitOpen(breaker.name, breaker.retry_in())
        self.give_up(last)

    def record(self, method: str, url: str, attempt: _Attempt, elapsed: float) -> None:
        UPSTREAM_CALLS.labels(self.config.service, attempt.outcome).inc()
        UPSTREAM_LATENCY.labels(self.config.service).observe(elapsed)
        breaker = self.config.breaker
        if breaker is not None:
            if attempt.breaker_failure:
                opened = breaker.opened_count
                breaker.record_failure()
                if breaker.opened_count != opened:
                    log.warning("circuit_opened", service=self.config.service, cooldown=breaker.cooldown)
            elif attempt.outcome == "rate_limited":
                breaker.release()
            else:
                breaker.record_success()
        status = attempt.response.status_code if attempt.response is not None else None
        log.debug(
            "upstream_call",
            service=self.config.service,
            method=method,
            url=url,
            status=status,
            outcome=attempt.outcome,
            ms=round(elapsed * 1000, 1),
        )

    def next_delay(self, method: str, retry_number: int, attempt: _Attempt) -> float | None:
        """Seconds to wait before trying again, or None to stop."""
        policy = self.config.policy
        if not attempt.failed or retry_number >= policy.max_retries or method.upper() not in policy.retry_methods:
            return None
        if attempt.response is not None and attempt.response.status_code not in policy.retry_statuses:
            return None
        if attempt.retry_after is not None:
            if attempt.retry_after > policy.backoff_max:
                return None  # the service asks for longer than we are willing to hold the caller
            return attempt.retry_after
        return policy.backoff(retry_number)

    def give_up(self, attempt: _Attempt) -> NoReturn:
        log.warning("upstream_failed", service=self.config.service, outcome=attempt.outcome)
        if attempt.error is not None:
            raise attempt.error
        assert attempt.response is not None
        raise UpstreamStatusError(attempt.response)

    @staticmethod
    def host(client_base: httpx.URL, url: str) -> str:
        return client_base.host or httpx.URL(url).host


def _identity(response: httpx.Response) -> httpx.Response:
    return response


class HttpClient:
    """Blocking client (jobs, CLI). ``call`` parses with ``parse``; a parser may raise :class:`InvalidResponse`."""

    def __init__(self, config: ClientConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._policy = _Policy(config)
        self._client = httpx.Client(transport=transport, **config.httpx_options())

    def call(self, method: str, url: str, parse: Callable[[httpx.Response], T], **kwargs: Any) -> T:
        last: _Attempt | None = None
        retry_number = 0
        while True:
            self._policy.permit(retry_number, last)
            wait = self._policy.limiter.reserve(_Policy.host(self._client.base_url, url))
            if wait:
                time.sleep(wait)
            started = time.perf_counter()
            result: T | None = None
            try:
                response = self._client.request(method, url, **kwargs)
                attempt = _classify(response)
                if attempt.outcome == "ok":
                    result = parse(response)
            except (httpx.TransportError, InvalidResponse) as exc:
                attempt = _error_attempt(exc)
            except BaseException:
                if self.config.breaker is not None:
                    self.config.breaker.release()
                raise
            self._policy.record(method, url, attempt, time.perf_counter() - started)
            if attempt.outcome == "ok":
                return result  # type: ignore[return-value]
            delay = self._policy.next_delay(method, retry_number, attempt)
            if delay is None:
                if attempt.outcome == "client_error" and attempt.response is not None:
                    return parse(attempt.response)
                self._policy.give_up(attempt)
            last = attempt
            retry_number += 1
            time.sleep(delay)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The final response, whatever its status (after retries); network errors and an open breaker raise."""
        try:
            return self.call(method, url, _identity, **kwargs)
        except UpstreamStatusError as exc:
            return exc.response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AsyncHttpClient:
    """Non-blocking client for ``async def`` code paths; same policy as :class:`HttpClient`."""

    def __init__(self, config: ClientConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._policy = _Policy(config)
        self._client = httpx.AsyncClient(transport=transport, **config.httpx_options())

    async def call(self, method: str, url: str, parse: Callable[[httpx.Response], T], **kwargs: Any) -> T:
        last: _Attempt | None = None
        retry_number = 0
        while True:
            self._policy.permit(retry_number, last)
            wait = self._policy.limiter.reserve(_Policy.host(self._client.base_url, url))
            if wait:
                await asyncio.sleep(wait)
            started = time.perf_counter()
            result: T | None = None
            try:
                response = await self._client.request(method, url, **kwargs)
                attempt = _classify(response)
                if attempt.outcome == "ok":
                    result = parse(response)
            except (httpx.TransportError, InvalidResponse) as exc:
                attempt = _error_attempt(exc)
            except BaseException:
                if self.config.breaker is not None:
                    self.config.breaker.release()
                raise
            self._policy.record(method, url, attempt, time.perf_counter() - started)
            if attempt.outcome == "ok":
                return result  # type: ignore[return-value]
            delay = self._policy.next_delay(method, retry_number, attempt)
            if delay is None:
                if attempt.outcome == "client_error" and attempt.response is not None:
                    return parse(attempt.response)
                self._policy.give_up(attempt)
            last = attempt
            retry_number += 1
            await asyncio.sleep(delay)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The final response, whatever its status (after retries); network errors and an open breaker raise."""
        try:
            return await self.call(method, url, _identity, **kwargs)
        except UpstreamStatusError as exc:
            return exc.response

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def aclose(self) -> None:
        await self._client.aclose()


def make_client(config: ClientConfig, *, transport: httpx.BaseTransport | None = None) -> HttpClient:
    return HttpClient(config, transport=transport)


def make_async_client(config: ClientConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> AsyncHttpClient:
    return AsyncHttpClient(config, transport=transport)


def utc_now_http_date() -> str:
    """An HTTP-date for now (used by sandboxes sending ``Retry-After`` as a date)."""
    return email.utils.format_datetime(datetime.now(UTC), usegmt=True)
