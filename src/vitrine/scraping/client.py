"""The crawler's HTTP edge: one aiohttp session with a bounded keep-alive pool, a per-host rate, conditional
requests, and retries with exponential backoff and jitter on network errors, 429 and 5xx (honouring Retry-After).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import aiohttp

from vitrine.config import ScrapingSettings
from vitrine.observability.metrics import UPSTREAM_CALLS, UPSTREAM_LATENCY
from vitrine.scraping.politeness import RateLimiter, backoff_delay, retry_after_seconds

logger = logging.getLogger(__name__)

SERVICE = "books"
_OK = UPSTREAM_CALLS.labels(SERVICE, "ok")
_NOT_MODIFIED = UPSTREAM_CALLS.labels(SERVICE, "not_modified")
_RETRIED = UPSTREAM_CALLS.labels(SERVICE, "retried")
_FAILED = UPSTREAM_CALLS.labels(SERVICE, "failed")
_LATENCY = UPSTREAM_LATENCY.labels(SERVICE)


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str  # the final URL after redirects: relative links resolve against it
    status: int  # 2xx, or 304 for a conditional request whose page has not changed
    body: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class FetchError(Exception):
    """A page could not be fetched, after the retries it deserved."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{reason} for {url}")
        self.url = url
        self.reason = reason
        self.status = status


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class Fetcher:
    """Use as ``async with Fetcher(settings, concurrency) as fetcher: await fetcher.get(url)``."""

    def __init__(self, settings: ScrapingSettings, concurrency: int, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.concurrency = max(1, concurrency)
        self._rng = rng or random.Random()
        self._limiters: dict[str, RateLimiter] = {}
        self._session: aiohttp.ClientSession | None = None
        self.retries = 0

    async def __aenter__(self) -> Self:
        connector = aiohttp.TCPConnector(
            limit=self.concurrency, limit_per_host=self.concurrency, ttl_dns_cache=300, keepalive_timeout=30
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
            headers={"User-Agent": self.settings.user_agent},
            raise_for_status=False,
            # No session cookie: the site would then add a per-visitor "recently viewed" block to every page.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def limiter(self, url: str) -> RateLimiter:
        host = url.split("/", 3)[2].lower() if "://" in url else urlsplit(url).netloc.lower()
        limiter = self._limiters.get(host)
        if limiter is None:
            limiter = self._limiters[host] = RateLimiter(self.settings.requests_per_second)
        return limiter

    async def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """GET with retries. Raises FetchError for a 4xx (other than 429) or when the retries run out."""
        assert self._session is not None, "use Fetcher as an async context manager"
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        limiter = self.limiter(url)
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            await limiter.wait()
            wait: float | None = None
            started = time.perf_counter()
            try:
                async with self._session.get(url, headers=headers) as response:
                    status = response.status
                    if status == 304 or 200 <= status < 300:
                        body = b"" if status == 304 else await response.read()
                        _LATENCY.observe(time.perf_counter() - started)
                        (_NOT_MODIFIED if status == 304 else _OK).inc()
                        return FetchResult(
                            url=str(response.url),
                            status=status,
                            body=body,
                            content_type=response.headers.get("Content-Type"),
                            etag=response.headers.get("ETag"),
                            last_modified=response.headers.get("Last-Modified"),
                        )
                    reason = f"HTTP {status}"
                    if not _retryable(status):
                        _FAILED.inc()
                        raise FetchError(url, reason, status)
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = 0
                reason = f"{type(exc).__name__}: {exc}".rstrip(": ") if str(exc) else type(exc).__name__
            if attempt + 1 == attempts:
                break
            self.retries += 1
            _RETRIED.inc()
            logger.info("crawl: %s for %s, retry %d of %d", reason, url, attempt + 1, attempts - 1)
            if wait is not None:
                # The server told us when to come back: hold the whole host until then (capped), not just this URL.
                wait = min(wait, self.settings.backoff_max_seconds)
                limiter.defer(wait)
            else:
                wait = backoff_delay(
                    attempt, self.settings.backoff_base_seconds, self.settings.backoff_max_seconds, self._rng
                )
            await asyncio.sleep(wait)
        _FAILED.inc()
        raise FetchError(url, f"{reason} after {attempts} attempts", status or None)
